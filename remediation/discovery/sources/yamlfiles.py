"""YAML sources: docker-compose services, Kubernetes containers, Ansible/Helm variables."""

from __future__ import annotations

import json
import posixpath
from typing import Iterator, Optional

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from remediation.discovery.model import Edit
from remediation.discovery.words import Word, is_plain, split_words
from remediation.discovery.sources.base import (EnvSetting, Issue, Located, find_in_words, invocations_in,
                   list_inserter)
from remediation.discovery.sources.yamlscalar import scalar_mapped

SETTING_KEYS = {"workerclass": "worker_class", "workers": "workers", "threads": "threads",
                "workerconnections": "worker_connections", "cmdargs": "worker_class",
                "concurrency": "workers"}


def compose_nodes(text: str) -> list[Node]:
    """All documents of a YAML stream as ruamel nodes (with character offsets)."""
    yaml = YAML(typ="safe", pure=True)
    return [n for n in yaml.compose_all(text) if n is not None]


def items(node: Node) -> dict[str, Node]:
    """A mapping's keys to value nodes, with `<<` merge keys applied (explicit keys win)."""
    result: dict[str, Node] = {}
    if not isinstance(node, MappingNode):
        return result
    merged: dict[str, Node] = {}
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "<<" or key.tag.endswith(":merge"):
            for source in value.value if isinstance(value, SequenceNode) else [value]:
                merged.update(items(source))
        elif isinstance(key, ScalarNode):
            result[key.value] = value
    return {**merged, **result}


class YamlWords:
    """Turns command scalars and sequences into mapped words and renders list insertions."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.items: dict[int, ScalarNode] = {}
        self.flow: dict[int, bool] = {}
        self.problems: list[str] = []

    def words(self, node: Optional[Node], split: bool) -> list[Word]:
        if node is None:
            return []
        if isinstance(node, ScalarNode):
            mapped = scalar_mapped(self.text, node)
            if mapped is None:
                self.problems.append(f"cannot map YAML scalar at line {node.start_mark.line + 1}")
                return []
            if split:
                return split_words(mapped, expansions=True)
            return [Word(mapped.text, mapped.offsets, node.start_mark.index, node.end_mark.index,
                         "$" in mapped.text, node.style is not None)]
        if isinstance(node, SequenceNode):
            result = []
            for item in node.value:
                if not isinstance(item, ScalarNode):
                    return []
                mapped = scalar_mapped(self.text, item)
                if mapped is None:
                    self.problems.append(f"cannot map YAML item at line {item.start_mark.line + 1}")
                    return []
                word = Word(mapped.text, mapped.offsets, item.start_mark.index,
                            item.end_mark.index, "$" in mapped.text, item.style is not None)
                self.items[word.raw_start] = item
                self.flow[word.raw_start] = node.flow_style
                result.append(word)
            return result
        return []

    def listed(self, words: list[Word]) -> list[Word]:
        """The words that are items of a YAML sequence (the others sit inside a string)."""
        return [w for w in words if w.raw_start in self.items]

    def render(self, after: Word, new: list[str]) -> Optional[list[Edit]]:
        item = self.items.get(after.raw_start)
        if item is None:
            return None
        style = item.style
        quoted = [self._quote(w, style) for w in new]
        if self.flow.get(after.raw_start):
            return [Edit(after.raw_end, after.raw_end, "".join(", " + q for q in quoted))]
        line_start = self.text.rfind("\n", 0, after.raw_start) + 1
        prefix = self.text[line_start : after.raw_start]
        if prefix.strip() != "-" or "\n" in self.text[after.raw_start : after.raw_end]:
            return None
        line_end = self.text.find("\n", after.raw_end)
        line_end = len(self.text) if line_end < 0 else line_end
        return [Edit(line_end, line_end, "".join("\n" + prefix + q for q in quoted))]

    @staticmethod
    def _quote(word: str, style: Optional[str]) -> str:
        numeric = word.replace(".", "", 1).isdigit()
        if style == "'":
            return f"'{word}'"
        if style == '"' or numeric or not is_plain(word) or word.lower() in ("true", "false", "yes", "no", "on", "off", "null"):
            return json.dumps(word)
        return word


def locate_yaml(path: str, text: str, base: Optional[str] = None) -> Located:
    """Compose services, Kubernetes containers and config maps, Ansible/Helm worker variables;
    `base`: where compose resolves the file's relative paths (its project directory; by default
    the file's own directory)."""
    located = Located()
    try:
        documents = compose_nodes(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        located.issues.append(Issue(path, mark.index if mark is not None else None, "worker_class",
                                    f"cannot parse YAML: {problem}"))
        return located
    except Exception as exc:  # ruamel raises a few non-YAMLError errors on odd input
        located.issues.append(Issue(path, None, "worker_class", f"cannot parse YAML: {exc}"))
        return located
    words = YamlWords(path, text)
    for index, doc in enumerate(documents):
        top = items(doc)
        if "services" in top and isinstance(top["services"], MappingNode):
            located.extend(_compose(path, top["services"], words, base))
        for unit, container in _containers(doc, f"{path}#doc{index}"):
            located.extend(_container(path, unit, container, words))
        if top.get("kind") is not None and getattr(top["kind"], "value", "") == "ConfigMap":
            for key, value in items(top.get("data")).items():
                mapped = scalar_mapped(text, value) if isinstance(value, ScalarNode) else None
                if mapped is not None:
                    located.env.append(EnvSetting(path, "configmap", None, key, mapped,
                                                  "$" in mapped.text, value.start_mark.index))
        if not located.invocations and not located.env:
            located.issues += _variables(path, doc, [])
    for problem in words.problems:
        located.issues.append(Issue(path, None, "worker_class", problem))
    return located


def _compose(path: str, services: MappingNode, words: YamlWords, base: Optional[str] = None) -> Located:
    located = Located()
    base = posixpath.dirname(path) if base is None else base
    for name, service in items(services).items():
        svc = items(service)
        unit = f"{path}#{name}"
        cwd = svc["working_dir"].value if isinstance(svc.get("working_dir"), ScalarNode) else None
        entry = words.words(svc.get("entrypoint"), split=True)
        command = words.words(svc.get("command"), split=True)
        label = f"compose service {name}"
        if entry and find_in_words(entry):
            argv = entry + command
            located.extend(invocations_in([argv], path, "compose", unit,
                                          list_inserter(words.listed(argv), words.render), cwd, label))
        else:
            for argv in (entry, command):
                if argv:
                    located.extend(invocations_in([argv], path, "compose", unit,
                                                  list_inserter(words.listed(argv), words.render),
                                                  cwd, label))
        located.env += _environment(path, unit, svc.get("environment"), words)
        dockerfile = _build_dockerfile(base, svc.get("build"))
        if dockerfile:
            located.builds[unit] = dockerfile
        env_files = svc.get("env_file")
        refs = env_files.value if isinstance(env_files, SequenceNode) else [env_files] if env_files else []
        for ref in refs:
            if isinstance(ref, MappingNode):
                ref = items(ref).get("path")
            if isinstance(ref, ScalarNode):
                located.env_files.setdefault(unit, []).append(posixpath.normpath(posixpath.join(base, ref.value)))
    return located


def _build_dockerfile(base: str, node: Optional[Node]) -> Optional[str]:
    """The Dockerfile a service's `build:` builds from (context relative to the compose file,
    `dockerfile:` relative to the context, as compose resolves them); None without a local one."""
    if isinstance(node, ScalarNode):
        context, dockerfile = node.value, "Dockerfile"
    elif isinstance(node, MappingNode):
        spec = items(node)
        context = spec["context"].value if isinstance(spec.get("context"), ScalarNode) else "."
        dockerfile = spec["dockerfile"].value if isinstance(spec.get("dockerfile"), ScalarNode) else "Dockerfile"
    else:
        return None
    if "://" in context or context.startswith("git@") or "$" in context + dockerfile:
        return None
    return posixpath.normpath(posixpath.join(base, context or ".", dockerfile))


def _environment(path: str, unit: str, node: Optional[Node], words: YamlWords) -> list[EnvSetting]:
    found = []
    if isinstance(node, MappingNode):
        for key, value in items(node).items():
            if isinstance(value, ScalarNode):
                mapped = scalar_mapped(words.text, value)
                if mapped is not None:
                    found.append(EnvSetting(path, "compose", unit, key, mapped, "$" in mapped.text,
                                            value.start_mark.index))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            mapped = scalar_mapped(words.text, item) if isinstance(item, ScalarNode) else None
            if mapped is None:
                continue
            name, eq, _ = mapped.text.partition("=")
            if eq and name:
                value = mapped.sub(len(name) + 1)
                found.append(EnvSetting(path, "compose", unit, name, value, "$" in value.text,
                                        item.start_mark.index))
    return found


def _containers(node: Node, unit: str) -> Iterator[tuple[str, MappingNode]]:
    if isinstance(node, MappingNode):
        for key, value in items(node).items():
            if key in ("containers", "initContainers") and isinstance(value, SequenceNode):
                for k, container in enumerate(value.value):
                    if isinstance(container, MappingNode):
                        name = items(container).get("name")
                        label = name.value if isinstance(name, ScalarNode) else str(k)
                        yield f"{unit}/{label}", container
            else:
                yield from _containers(value, unit)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _containers(item, unit)


def _container(path: str, unit: str, container: MappingNode, words: YamlWords) -> Located:
    located = Located()
    spec = items(container)
    argv = words.words(spec.get("command"), split=False) + words.words(spec.get("args"), split=False)
    cwd = spec["workingDir"].value if isinstance(spec.get("workingDir"), ScalarNode) else None
    name = unit.rsplit("/", 1)[-1]
    if argv:
        located.extend(invocations_in([argv], path, "kubernetes", unit,
                                      list_inserter(words.listed(argv), words.render), cwd,
                                      f"container {name}"))
    env = spec.get("env")
    for item in env.value if isinstance(env, SequenceNode) else []:
        entry = items(item)
        key = entry.get("name")
        if not isinstance(key, ScalarNode):
            continue
        value = entry.get("value")
        if isinstance(value, ScalarNode):
            mapped = scalar_mapped(words.text, value)
            if mapped is not None:
                located.env.append(EnvSetting(path, "kubernetes", unit, key.value, mapped,
                                              "$(" in mapped.text, value.start_mark.index))
        elif "valueFrom" in entry and key.value in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"):
            located.issues.append(Issue(path, key.start_mark.index, "worker_class",
                                        f"{key.value} of container {name} comes from valueFrom "
                                        "(ConfigMap/Secret): check that object"))
    return located


def _variables(path: str, node: Node, keys: list[str]) -> list[Issue]:
    """Ansible/Helm variables such as `gunicorn_worker_class: gevent`: reported, not patched."""
    issues = []
    for key, value in items(node).items():
        chain = keys + [key]
        if isinstance(value, MappingNode):
            issues += _variables(path, value, chain)
            continue
        if not isinstance(value, ScalarNode) or not any("gunicorn" in k.lower() for k in chain):
            continue
        normal = key.lower().replace("_", "").replace("-", "").replace("gunicorn", "")
        setting = SETTING_KEYS.get(normal)
        if setting:
            issues.append(Issue(path, value.start_mark.index, setting,
                                f"template variable {'.'.join(chain)} = {value.value}: rendered "
                                "into a config elsewhere and may be overridden by inventory or "
                                "values files; change it deliberately",
                                current=value.value))
    return issues
