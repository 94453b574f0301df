"""The layout's rules, checked: no import cycles in the product package, the product never
imports the lab or the benchmarks, the flow's functions stay short, each manager is registered."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "remediation"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool, modules: frozenset[str] = frozenset()) -> set[str]:
    """Modules `path` imports (`from X import Y` counts X.Y when that is a module, else X)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
    return out


def graph(top_level_only: bool = True) -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "agent" not in p.relative_to(PACKAGE).parts[:1]}
    known = frozenset(files)
    return {name: {m for m in imports(path, top_level_only=top_level_only, modules=known) if m in files and m != name}
            for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module-level", "with-imports-inside-functions"])
def test_no_import_cycle(top_level_only):
    cycle = find_cycle(graph(top_level_only))
    assert cycle is None, " -> ".join(cycle)


def test_the_product_never_imports_the_lab_or_the_benchmarks():
    offenders = sorted(f"{module_name(p)} imports {m}" for p in PACKAGE.rglob("*.py")
                       for m in imports(p, top_level_only=False) if m.split(".")[0] in ("lab", "bench", "tests"))
    assert not offenders


@pytest.mark.parametrize("module", ["flow.py", "apply.py", "rollback.py", "restart.py", "plan/decide.py",
                                    "verify/verdict.py"])
def test_no_function_in_the_flow_is_over_60_lines(module):
    tree = ast.parse((PACKAGE / module).read_text())
    long = [f"{node.name}: {node.end_lineno - node.lineno + 1} lines" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert not long


def test_every_manager_package_is_registered_with_its_probe():
    """Each package under managers/ is one manager unit: registered, and its host-side probe.py is
    what its managers name as PROBE (what the agent payload bundles)."""
    from remediation import managers

    packages = {p.parent.name for p in (PACKAGE / "managers").glob("*/__init__.py")}
    registered = {type(m).__module__.split(".")[2] for m in managers.REGISTRY if type(m).__module__ != "remediation.managers.base"}
    assert packages and packages == registered
    for manager in managers.REGISTRY:
        package = type(manager).__module__.split(".")[2] if manager.PROBE else None
        if package:
            assert manager.PROBE == f"remediation.managers.{package}.probe"
            assert (PACKAGE / "managers" / package / "probe.py").is_file()
    assert {p.stem for p in (PACKAGE / "managers").glob("*.py")} == {"__init__", "base"}  # no loose manager module
    kinds = [m.KIND for m in managers.REGISTRY]
    assert len(kinds) == len(set(kinds)) and kinds[-1] == "unknown"  # the catch-all comes last
