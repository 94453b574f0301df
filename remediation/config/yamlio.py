"""Safe YAML loading that remembers where each value came from (file and line).

Built on PyYAML's safe composer: nodes are composed safely, scalars are constructed by
SafeConstructor, and mappings/sequences become dict/list subclasses carrying line numbers
so validation errors can name the exact line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from remediation.errors import InputError


class VaultValue(InputError):
    """A `!vault` value: only Ansible can decrypt it (see config.ansible_bridge)."""


class MarkedDict(dict):
    """A mapping with the line of the mapping and of each key (1-based)."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list):
    line: int = 0
    item_lines: list


def _check_tag(node: yaml.Node, default: str, path: str) -> None:
    # Mappings and sequences are built here, not by SafeConstructor: refuse any explicit tag
    # (`!!python/object`, `!!set`, `!custom`) instead of silently building a plain dict/list.
    if node.tag != default:
        raise InputError(f"unsupported YAML tag {node.tag!r}", path, node.start_mark.line + 1)


_BUILDING = object()


def _construct(node: yaml.Node, constructor: yaml.SafeConstructor, path: str, memo: dict | None = None,
               duplicates: list | None = None) -> Any:
    # memo: one object per node, so aliases are shared (no exponential "billion laughs"
    # expansion) and an alias inside its own anchor is an error, not a RecursionError.
    memo = {} if memo is None else memo
    if id(node) in memo:
        if memo[id(node)] is _BUILDING:
            raise InputError("recursive alias (a value contains itself)", path, node.start_mark.line + 1)
        return memo[id(node)]
    memo[id(node)] = _BUILDING
    if isinstance(node, yaml.MappingNode):
        _check_tag(node, yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, path)
        result = MarkedDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" and id(value_node) in memo \
                    and memo[id(value_node)] is _BUILDING:
                raise InputError("recursive alias (a mapping merges itself)", path, value_node.start_mark.line + 1)
        constructor.flatten_mapping(node)
        from_own: set = set()
        for key_node, value_node in node.value:
            key = _construct(key_node, constructor, path, memo, duplicates)
            if isinstance(key, (MarkedDict, MarkedList)):
                raise InputError("a mapping key must be a scalar", path, key_node.start_mark.line + 1)
            # a key written twice is an error (or, where `duplicates` collects them, Ansible's warning:
            # the last one wins); a key overriding one merged in with `<<:` is YAML's rule
            if key in result and id(key_node) in own and key in from_own:
                if duplicates is None:
                    raise InputError(f"duplicate key {key!r}", path, key_node.start_mark.line + 1)
                duplicates.append(f"{path}:{key_node.start_mark.line + 1}: duplicate key {key!r}: the last one "
                                  "is used, as Ansible does")
            if id(key_node) in own:
                from_own.add(key)
            result[key] = _construct(value_node, constructor, path, memo, duplicates)
            result.key_lines[key] = key_node.start_mark.line + 1
        memo[id(node)] = result
        return result
    if isinstance(node, yaml.SequenceNode):
        _check_tag(node, yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, path)
        result_list = MarkedList(_construct(item, constructor, path, memo, duplicates) for item in node.value)
        result_list.line = node.start_mark.line + 1
        result_list.item_lines = [item.start_mark.line + 1 for item in node.value]
        memo[id(node)] = result_list
        return result_list
    if isinstance(node, yaml.ScalarNode) and node.tag == "!unsafe":  # Ansible: a string never templated
        value = str(node.value)
    elif isinstance(node, yaml.ScalarNode) and node.tag == "!vault":
        raise VaultValue("a !vault value (YAML tag !vault; only Ansible decrypts it)", path, node.start_mark.line + 1)
    else:
        value = constructor.construct_object(node, deep=True)
    memo[id(node)] = value
    return value


def load(text: str, path: str, duplicates: list | None = None) -> Any:
    """Parse one YAML document safely; InputError names the file and line on any problem. With
    `duplicates` (a list), a key written twice is a warning appended there, not an error."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            return _construct(node, loader, path, duplicates=duplicates)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(f"invalid YAML: {exc.problem or exc.context}", path, line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path) from None


def load_file(path: Path, duplicates: list | None = None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from None
    return load(text, str(path), duplicates)


def kind(value: Any) -> str:
    """A user-facing name for a YAML value's type."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "empty"
    return {int: "a number", float: "a number", str: "a string"}.get(type(value), type(value).__name__)


def line_of(container: Any, key: Any = None) -> int | None:
    if isinstance(container, MarkedDict):
        return container.line_of(key) if key is not None else container.line
    if isinstance(container, MarkedList):
        return container.line
    return None
