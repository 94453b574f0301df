"""Which Django settings module runs in production, and which settings files are something else."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from remediation.discovery.pyparse import ParsedPy
from remediation.discovery.tree import Tree

TEST_NAMES = {"test", "tests", "testing", "test_settings", "settings_test", "ci", "pytest",
              "unittest", "test_sqlite", "settings_ci"}
DEV_NAMES = {"local", "dev", "development", "develop", "debug", "settings_local",
             "local_settings", "settings_dev", "docker_local"}
PROD_NAMES = {"production", "prod", "live", "settings_production", "settings_prod", "heroku",
              "deploy", "deployment", "prod_settings", "production_settings"}
SERVER_FILES = {"wsgi.py", "asgi.py"}
EXAMPLE_MARKS = (".example", "_example", "example_", "-example", ".sample", "_sample", ".template",
                 "_template", ".dist")


@dataclass
class Pointer:
    module: str
    file: str
    offset: Optional[int]
    strength: str  # hint | env | server | manage | other


@dataclass
class Choice:
    roots: list[str] = field(default_factory=list)
    why: str = ""
    unresolved: list[Pointer] = field(default_factory=list)
    settings_files: list[str] = field(default_factory=list)
    dev_refused: list[str] = field(default_factory=list)


def name_class(path: str) -> str:
    stem = posixpath.basename(path)[:-3]
    if stem == "__init__":
        stem = posixpath.basename(posixpath.dirname(path))
    if any(mark in stem for mark in EXAMPLE_MARKS):
        return "example"  # production.example.py, local_settings.py.sample: copied by a person
    if stem in TEST_NAMES or stem.startswith(("test_", "e2e")) or stem.endswith(("test", "_tests")):
        return "test"
    if stem in DEV_NAMES:
        return "dev"
    if stem in PROD_NAMES:
        return "prod"
    return "other"


class _SettingsScan(cst.CSTVisitor):
    """Module-level writes to DATABASES, star imports, DJANGO_SETTINGS_MODULE defaults."""

    def __init__(self, parsed: ParsedPy) -> None:
        self.parsed = parsed
        self.writes_databases = False
        self.star_imports: list[tuple[str, int]] = []
        self.pointers: list[tuple[str, int]] = []

    def visit_FunctionDef(self, node) -> bool:
        return "DJANGO_SETTINGS_MODULE" in self.parsed.code(node)

    def visit_ClassDef(self, node) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            root = target.target
            while isinstance(root, (cst.Subscript, cst.Attribute)):
                root = root.value
            if isinstance(root, cst.Name) and root.value == "DATABASES":
                self.writes_databases = True
        if (len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Subscript)
                and "DJANGO_SETTINGS_MODULE" in self.parsed.code(node.targets[0].target)
                and isinstance(node.value, cst.SimpleString)):
            self.pointers.append((node.value.evaluated_value, self.parsed.span(node)[0]))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name) and node.target.value == "DATABASES":
            self.writes_databases = True

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            module = self.parsed.code(node.module) if node.module is not None else ""
            self.star_imports.append(("." * len(node.relative) + module, len(node.relative)))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "setdefault" and len(node.args) >= 2
                and isinstance(node.args[0].value, cst.SimpleString)
                and node.args[0].value.evaluated_value == "DJANGO_SETTINGS_MODULE"
                and isinstance(node.args[1].value, cst.SimpleString)):
            self.pointers.append((node.args[1].value.evaluated_value, self.parsed.span(node)[0]))


def scan_python(tree: Tree) -> tuple[list[str], list[Pointer], dict[str, list[str]]]:
    """Settings-like files, settings pointers in code, and star-import edges."""
    settings, pointers, imports = [], [], {}
    for path, text in tree.texts.items():
        if not path.endswith(".py"):
            continue
        has_db = "DATABASES" in text
        has_pointer = "DJANGO_SETTINGS_MODULE" in text
        if not has_db and not has_pointer:
            continue
        parsed = tree.parsed(path)
        if not isinstance(parsed, ParsedPy):
            if has_db and "settings" in path:
                settings.append(path)  # reported as unparseable later
            continue
        scan = _SettingsScan(parsed)
        parsed.module.visit(scan)
        if scan.writes_databases:
            settings.append(path)
        edges = []
        for module, level in scan.star_imports:
            found = tree.modules.find(module.lstrip("."), path, level)
            if found:
                edges.append(found)
        imports[path] = edges
        base = posixpath.basename(path)
        strength = "server" if base in SERVER_FILES else "manage" if base == "manage.py" else "other"
        for module, offset in scan.pointers:
            pointers.append(Pointer(module, path, offset, strength))
    return settings, pointers, imports


STRENGTH_WORDS = {"hint": "the live process", "env": "DJANGO_SETTINGS_MODULE in the environment",
                  "server": "wsgi.py/asgi.py", "manage": "manage.py", "other": "a setdefault in code"}
COPY = re.compile(r"(?:\b(?:cp|mv)(?:\s+-\w+)*|^\s*COPY(?:\s+--\S+)*)\s+([\w./-]+\.py)\s+([\w./-]+\.py)\b",
                  re.MULTILINE)
DEBUG_TRUE = re.compile(r"^DEBUG\s*=\s*True\s*(?:#.*)?$", re.MULTILINE)  # literally True, not `True if ...`


def copies(tree: Tree) -> list[tuple[str, str, str]]:
    """(source, destination, file) of settings files copied into place by a Dockerfile or
    script (`RUN cp settings/production.py settings/local.py`, `COPY x.py y.py`)."""
    found = []
    for path, kind in tree.kinds.items():
        if kind not in ("dockerfile", "shell"):
            continue
        for match in COPY.finditer(tree.texts[path]):
            found.append((match.group(1), match.group(2), path))
    return found


def _suffix_match(path: str, candidate: str) -> bool:
    """`candidate` (as written in a Dockerfile, maybe absolute) names tree path `path`."""
    mine = path.split("/")
    theirs = [p for p in candidate.split("/") if p not in ("", ".")]
    k = min(len(mine), len(theirs))
    return k >= 1 and mine[-k:] == theirs[-k:]


def _tree_path(tree: Tree, written: str) -> Optional[str]:
    matches = [p for p in tree.texts if p.endswith(".py") and _suffix_match(p, written)]
    return matches[0] if len(matches) == 1 else None


def _copied_from(tree: Tree, module: str) -> Optional[tuple[str, str]]:
    """The tree file that is copied to where `module` is imported from, and the copying file."""
    target = module.replace(".", "/") + ".py"
    for src, dst, file in copies(tree):
        if _suffix_match(target, dst) or _suffix_match(dst.lstrip("/"), target):
            source = _tree_path(tree, src)
            if source:
                return source, file
    return None


def is_dev(tree: Tree, path: str) -> bool:
    """Development settings: named so (local, dev...) or a literal `DEBUG = True`."""
    return name_class(path) == "dev" or bool(DEBUG_TRUE.search(tree.texts.get(path, "")))


def choose(tree: Tree, hint: Optional[str], env_pointers: list[Pointer]) -> Choice:
    """The production settings modules (files) to patch, and why those. Example and template
    files (`*_example.py`, `*.sample`...) are copied by a person: never production."""
    choice = _choose(tree, hint, env_pointers)
    examples = [r for r in choice.roots if name_class(r) == "example"]
    if examples:
        choice.roots = [r for r in choice.roots if r not in examples]
        choice.why += f"; {', '.join(examples)} is an example file (a template to copy): never patched"
    return choice


def _choose(tree: Tree, hint: Optional[str], env_pointers: list[Pointer]) -> Choice:
    settings, code_pointers, imports = scan_python(tree)
    choice = Choice(settings_files=settings)
    if hint:
        pointers = [Pointer(hint, "", None, "hint")]
    else:
        # DJANGO_SETTINGS_MODULE set in the environment beats wsgi.py's os.environ.setdefault;
        # an environment that only ever names dev settings (a local compose file) does not.
        env = _not_test([p for p in env_pointers + code_pointers
                         if p.strength == "env" and not _not_production_source(p.file)])
        if env and all(name_class(_module_path(p.module)) == "dev" for p in env):
            env = []
        server = [p for p in code_pointers if p.strength == "server"]
        weak = [p for p in code_pointers if p.strength in ("manage", "other")]
        pointers = env or _not_test(server) or _not_test(weak)
    reasons = []
    for pointer in pointers:
        copied = _copied_from(tree, pointer.module)
        path = copied[0] if copied else tree.modules.find(pointer.module)
        where = f"{pointer.file}" if pointer.file else STRENGTH_WORDS[pointer.strength]
        if copied:
            reasons.append(f"{pointer.module} (named in {where}) is {copied[0]}, copied into place "
                           f"by {copied[1]}")
        if path is None:
            choice.unresolved.append(pointer)
        elif path not in choice.roots:
            choice.roots.append(path)
            if not copied:
                reasons.append(f"{pointer.module} named in {where}")
    if pointers and pointers[0].strength != "hint":
        dev = [r for r in choice.roots if is_dev(tree, r)]
        if dev and len(dev) == len(choice.roots):
            prod = _production_files(tree, settings, imports)
            note = (f"{', '.join(dev)} is development settings (a dev name or DEBUG = True); "
                    "never patched as production")
            choice.dev_refused = list(dev)
            if prod:
                choice.roots = prod
                choice.why = f"{note}; the production module is {', '.join(prod)} (by its name)"
            else:
                choice.roots = []
                choice.why = (f"{note}; no production settings module found: set "
                              "DJANGO_SETTINGS_MODULE where the app is started")
            return choice
    if choice.roots or choice.unresolved:
        choice.why = "; ".join(reasons) or "named by " + ", ".join(sorted({p.strength for p in pointers}))
        return choice
    imported = {target for targets in imports.values() for target in targets}
    roots = [s for s in settings if s not in imported]
    prod = [r for r in roots if name_class(r) == "prod"]
    rest = [r for r in roots if name_class(r) == "other" and not is_dev(tree, r)]
    choice.roots = prod or rest
    choice.why = ("guessed from file names (no DJANGO_SETTINGS_MODULE found): "
                  + (", ".join(choice.roots) or "none"))
    return choice


def _production_files(tree: Tree, settings: list[str], imports: dict[str, list[str]]) -> list[str]:
    """Settings files named as production (production.py, prod.py...), top modules first."""
    return sorted(p for p in tree.texts if p.endswith(".py") and name_class(p) == "prod"
                  and (p in settings or "import *" in tree.texts[p]))


def _module_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


CI_MARKS = re.compile(r"(?:^|[._/-])(?:ci|circleci|github|gitlab-ci|travis|test|tests|testing)(?:[._/-]|$)")


def _not_production_source(path: str) -> bool:
    """A file that names a settings module for something other than production: a template to
    copy (`.env.template`, `.env.example`, `*.sample`, `*.dist`) or a CI/test compose or env file
    (`docker-compose-circleci-*.yml`, `.github/...`)."""
    base = posixpath.basename(path).lower()
    if any(mark in base for mark in EXAMPLE_MARKS) or base.endswith((".example", ".sample", ".dist", ".template", ".tpl")):
        return True
    return bool(CI_MARKS.search(path.lower()))


def _not_test(pointers: list[Pointer]) -> list[Pointer]:
    keep = [p for p in pointers if name_class(p.module.replace(".", "/") + ".py") not in ("test",)]
    non_dev = [p for p in keep if name_class(p.module.replace(".", "/") + ".py") != "dev"]
    return non_dev or keep


def settings_pointer(path: str, text: str) -> Optional[str]:
    """The settings module a file names (`os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`
    or an assignment to it), as the tree's scan reads it; None when it names none."""
    if "DJANGO_SETTINGS_MODULE" not in text:
        return None
    from remediation.discovery.pyparse import parse_python

    try:
        parsed = parse_python(path, text)
    except Exception:  # unparseable: the discovery reports the file itself
        return None
    scan = _SettingsScan(parsed)
    parsed.module.visit(scan)
    return scan.pointers[0][0] if scan.pointers else None
