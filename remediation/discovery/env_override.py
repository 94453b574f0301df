"""The manager's own override for a variable the process needs changed when no file on the host
sets it (pure): `NAME="value"` added to a supervisor program's `environment=` (or a new
`environment=` line in its section), `NAME: "value"` to a compose service's `environment:`
(mapping or list form, or a new `environment:` key), or `Environment=NAME=value` in the last of
the systemd unit's own files under /etc/systemd (a template's instance: only the instance's
drop-ins, so its sibling instances keep theirs), else a new drop-in
`/etc/systemd/system/UNIT.d/50-remediation.conf` applied after every drop-in the unit has (a
vendor unit under /lib or /usr/lib is never edited: a package upgrade overwrites it). The
manager's value replaces whatever gave the process the old one (supervisord's own environment,
the shell that ran compose, systemd's manager environment, a vendor unit's `Environment=`).
"""
from __future__ import annotations

import json
import posixpath
from typing import Optional

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from remediation.discovery.model import Edit, EnvOverride
from remediation.discovery.sources.ini import read_ini
from remediation.discovery.sources.supervisor import PROGRAM_PREFIXES
from remediation.discovery.sources.yamlfiles import compose_nodes, items

SYSTEMD_ADMIN_DIR = "etc/systemd/"  # tree keys: the administrator's units and drop-ins
# tree keys of the package manager's units and systemd's runtime ones: never edited
SYSTEMD_VENDOR_DIRS = ("lib/systemd/", "usr/lib/systemd/", "run/systemd/")
DROPIN_DIR = "etc/systemd/system"
DROPIN_NAMES = ("50-remediation.conf", "zz-remediation.conf")  # the first that sorts after every drop-in
CREATED_HEADER = "# the manager's own override, written by remediation (its rollback removes this file)\n"


def vendor_unit_file(path: str) -> bool:
    """A systemd file the package manager (or systemd at run time) owns: never edited."""
    return path.startswith(SYSTEMD_VENDOR_DIRS)


def own_file(path: str, unit: str) -> bool:
    """A file of this unit alone: its own unit file or a drop-in of its own `UNIT.d/`, not the
    template's (`name@.service`, `name@.service.d/`) nor a prefix's (`name-.service.d/`)."""
    return posixpath.basename(path) == unit or posixpath.basename(posixpath.dirname(path)) == unit + ".d"


def new_dropin(unit: str, files: tuple[str, ...]) -> Optional[str]:
    """The drop-in (tree key) the tool would create for `unit`: in its own `UNIT.d/` under
    /etc/systemd/system, named to sort after every drop-in it loads now (systemd applies
    drop-ins by file name, whatever their directory); None when no name sorts last."""
    loaded = [posixpath.basename(p) for p in files[1:]]
    for name in DROPIN_NAMES:
        if all(name > other for other in loaded):
            return f"{DROPIN_DIR}/{unit}.d/{name}"
    return None


def override_edit(texts: dict[str, str], override: EnvOverride, name: str, value: str) -> Optional[tuple[str, list[Edit]]]:
    """(file, edits) that give the process NAME=value through its manager; None when no file
    defines the service or program in a shape that can be edited with certainty."""
    for path in reversed(override.files):
        text = texts.get(path)
        if text is None:
            continue
        if override.kind == "systemd" and not (path.startswith(SYSTEMD_ADMIN_DIR) and own_file(path, override.name)):
            continue  # a vendor unit, or a file other units load too (a template's): not this unit's own
        edits = (_supervisor(text, override.name, name, value) if override.kind == "supervisor"
                 else _systemd(text, name, value) if override.kind == "systemd"
                 else _compose(text, override.name, name, value))
        if edits is not None:
            return path, edits
    if override.kind == "systemd" and override.create and override.create not in texts:
        line = _environment_line(name, value)
        if line is not None:
            return override.create, [Edit(0, 0, f"{CREATED_HEADER}[Service]\n{line}")]
    return None


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end + 1


def _supervisor(text: str, program: str, name: str, value: str) -> Optional[list[Edit]]:
    sections = [prefix + program for prefix in PROGRAM_PREFIXES]
    entries = [e for e in read_ini(text) if e.section in sections]
    if not entries:
        return None
    pair = f'{name}="{value}"'
    envs = [e for e in entries if e.key == "environment"]
    if envs:
        last = envs[-1].value
        body = last.text.rstrip()
        span = last.span(0, len(body)) if body else None
        if span is None:
            return None
        return [Edit(span[1], span[1], ("," if not body.endswith(",") else "") + pair)]
    end = max(e.value.span(0, len(e.value.text))[1] if e.value.text and e.value.span(0, len(e.value.text))
              else e.offset for e in entries)
    at = _line_end(text, end)
    return [Edit(at, at, ("" if at == 0 or text[at - 1] == "\n" else "\n") + f"environment={pair}\n")]


def _systemd(text: str, name: str, value: str) -> Optional[list[Edit]]:
    """`Environment=NAME=value` after the last line of the file's [Service] section (a later
    Environment= of the same name wins within the unit, and this file is the last one systemd
    applies of those an administrator may edit)."""
    entries = [e for e in read_ini(text, continuation="backslash") if e.section == "Service"]
    line = _environment_line(name, value)
    if not entries or line is None:
        return None
    last = entries[-1]
    span = last.value.span(0, len(last.value.text)) if last.value.text else None
    at = _line_end(text, span[1] if span else last.offset)
    return [Edit(at, at, ("" if at == 0 or text[at - 1] == "\n" else "\n") + line)]


def _environment_line(name: str, value: str) -> Optional[str]:
    """`Environment=NAME=value`, for a value that needs no quoting or escaping in a unit."""
    return None if any(ch in value for ch in " \t\"'\\%$") else f"Environment={name}={value}\n"


def _compose(text: str, service: str, name: str, value: str) -> Optional[list[Edit]]:
    try:
        documents = compose_nodes(text)
    except (YAMLError, ValueError):
        return None
    for doc in documents:
        services = items(doc).get("services")
        svc = items(services).get(service) if isinstance(services, MappingNode) else None
        if isinstance(svc, MappingNode) and not svc.flow_style:
            return _compose_service(text, svc, name, value)
    return None


def _prefix(text: str, node: Node) -> str:
    """The text between the start of a node's line and the node (its indent, or `  - `)."""
    start = node.start_mark.index
    return text[text.rfind("\n", 0, start) + 1:start]


def _after(text: str, node: Node) -> int:
    """The start of the line after a block node's last line."""
    end = node.end_mark.index
    while end > 0 and text[end - 1] in " \n":  # a block ends at the next key's line
        end -= 1
    return _line_end(text, end)


def _compose_service(text: str, svc: MappingNode, name: str, value: str) -> Optional[list[Edit]]:
    keys = [k for k, _ in svc.value if isinstance(k, ScalarNode)]
    quoted = json.dumps(value)
    env = items(svc).get("environment")
    if env is None:
        indent = _prefix(text, keys[0]) if keys else ""
        if not indent or indent.strip():
            return None
        at = _after(text, svc)
        return [Edit(at, at, f"{indent}environment:\n{indent}  {name}: {quoted}\n")]
    if not isinstance(env, (MappingNode, SequenceNode)) or env.flow_style or not env.value:
        return None
    if isinstance(env, MappingNode):
        indent = _prefix(text, env.value[0][0])
        line = f"{indent}{name}: {quoted}\n" if indent and not indent.strip() else None
    else:
        dash = _prefix(text, env.value[0])
        line = f"{dash}{name}={value}\n" if dash.strip() == "-" else None
    if line is None:
        return None
    at = _after(text, env)
    return [Edit(at, at, line)]
