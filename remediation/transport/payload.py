"""The host agent as one stdlib-only payload, assembled at send time (as Ansible's module_common
builds AnsiballZ from a module and its module_utils).

The payload is the agent's core modules (remediation/agent/, in CORE's order) followed by the
host-side probe of each manager in managers.REGISTRY, concatenated into one script: each part's
imports of another part (`from remediation.… import …`, one line each) are dropped, since every
part's names live in the one script's namespace. Registration happens as each part runs (@op,
@master_probe, @log_kind...), so a manager's probe needs no line in the core. The text depends
only on the source files and the registry's order: the same tree gives the same bytes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
import types
from functools import lru_cache

from remediation import managers

# the agent's own parts, in the order they run (core first: every part registers with it)
CORE = ("remediation.agent.core", "remediation.agent.processes", "remediation.agent.files",
        "remediation.agent.logs", "remediation.agent.containers", "remediation.agent.apps",
        "remediation.agent.database", "remediation.agent.lock")
BUNDLED_IMPORT = re.compile(r"^from (remediation\.[\w.]+) import ")
TRAILER = '\n\nif __name__ == "__main__":\n    main()\n'


def parts() -> tuple[str, ...]:
    """The modules the payload holds, in order: the core, then each registered manager's probe
    (once, in registry order)."""
    probes = dict.fromkeys(m.PROBE for m in managers.REGISTRY if m.PROBE)
    return CORE + tuple(probes)


def part_source(module: str, bundled: frozenset[str]) -> str:
    """One part's text with its imports of the other parts dropped; an import of any other
    remediation module is an error (the agent is stdlib only)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(f"agent part {module} not found")
    with open(spec.origin, encoding="utf-8") as fh:
        text = fh.read()
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        match = BUNDLED_IMPORT.match(line)
        if match:
            if match.group(1) not in bundled or line.rstrip().endswith("("):
                raise ValueError(f"{module}:{number}: an agent part imports only other parts, on one line: {line}")
            continue
        if line.startswith(("import remediation", "from remediation")):
            raise ValueError(f"{module}:{number}: an agent part imports only other parts, on one line: {line}")
        out.append(line)
    return "\n".join(out).strip("\n")


@lru_cache(maxsize=1)
def source() -> str:
    """The whole agent as one script (cached: the registry does not change while the tool runs)."""
    names = parts()
    bundled = frozenset(names)
    body = "\n\n\n".join(f"# ---- {name}\n{part_source(name, bundled)}" for name in names)
    header = "# The remediation host agent, assembled from: " + ", ".join(names) + "\n"
    return header + body + TRAILER


def digest() -> str:
    """The payload's sha256 (names one build of the agent)."""
    return hashlib.sha256(source().encode()).hexdigest()


def load() -> types.ModuleType:
    """The payload as a module in this process (for tests: the very text a host runs)."""
    module = types.ModuleType("hostagent")
    module.__file__ = "hostagent"
    exec(compile(source(), "hostagent", "exec"), module.__dict__)
    return module
