"""Dockerfiles: CMD / ENTRYPOINT (exec and shell form), ENV, WORKDIR, per build stage."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from remediation.discovery.model import Edit
from remediation.discovery.words import Mapped, Word, split_commands, split_words
from remediation.discovery.sources.base import EnvSetting, Located, find_in_words, invocations_in, list_inserter
from remediation.discovery.sources.ini import _concat

JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass
class Instruction:
    keyword: str
    args: Mapped  # continuation lines joined, comment lines dropped
    offset: int


@dataclass
class Stage:
    cmd: Optional[Instruction] = None
    entrypoint: Optional[Instruction] = None
    workdir: Optional[str] = None
    envs: list[EnvSetting] = field(default_factory=list)


def instructions(text: str) -> list[Instruction]:
    """Logical instructions with `\\` continuations removed and offsets kept."""
    result = []
    parts: list[Mapped] = []
    start = 0
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        line_start = pos
        pos += len(raw)
        stripped = body.strip()
        if not parts and (not stripped or stripped.startswith("#")):
            continue
        if parts and (not stripped or stripped.startswith("#")):
            continue
        if not parts:
            start = line_start
        cut = body.rstrip()
        continued = cut.endswith("\\")
        parts.append(Mapped.region(text, line_start, line_start + len(cut) - (1 if continued else 0)))
        if not continued:
            result.append(_instruction(_concat(parts), start))
            parts = []
    if parts:
        result.append(_instruction(_concat(parts), start))
    return result


def _instruction(line: Mapped, offset: int) -> Instruction:
    text = line.text
    lead = len(text) - len(text.lstrip())
    rest = text[lead:]
    keyword = rest.split(None, 1)[0] if rest.split() else ""
    args_at = lead + len(keyword)
    args_at += len(text[args_at:]) - len(text[args_at:].lstrip())
    return Instruction(keyword.upper(), line.sub(args_at), offset)


def json_array(args: Mapped) -> Optional[list[Word]]:
    """The words of an exec-form array, each mapped to its file offsets; None if not JSON."""
    text = args.text.rstrip()
    try:
        expected = json.loads(text)
    except ValueError:
        return None
    if not isinstance(expected, list) or not all(isinstance(x, str) for x in expected):
        return None
    words = []
    k = text.index("[") + 1
    while True:
        while k < len(text) and text[k] in " \t\r\n,":
            k += 1
        if k >= len(text) or text[k] == "]":
            break
        value, end = json.decoder.scanstring(text, k + 1)
        chars: list[int] = []
        j = k + 1
        while j < end - 1:
            if text[j] == "\\":
                chars.append(args.offsets[j])
                j += 6 if text[j + 1] == "u" else 2
            else:
                chars.append(args.offsets[j])
                j += 1
        if len(chars) != len(value):
            return None
        words.append(Word(value, tuple(chars), args.offsets[k], args.offsets[end - 1] + 1, False, True))
        k = end
    return words if [w.value for w in words] == expected else None


def _json_render(after: Word, new: list[str]) -> Optional[list[Edit]]:
    return [Edit(after.raw_end, after.raw_end, "".join(", " + json.dumps(w) for w in new))]


def _env_settings(path: str, ins: Instruction) -> list[EnvSetting]:
    found = []
    words = split_words(ins.args, expansions=True)
    if words and "=" not in words[0].value:
        name = words[0].value
        rest = ins.args.sub(len(ins.args.text) - len(ins.args.text[len(name):].lstrip()))
        if name:
            found.append(EnvSetting(path, "dockerfile", path, name, rest, "$" in rest.text, ins.offset))
        return found
    for word in words:
        name, eq, _ = word.value.partition("=")
        if eq and name:
            value = word.mapped().sub(len(name) + 1)
            found.append(EnvSetting(path, "dockerfile", path, name, value, word.expands, word.raw_start))
    return found


def locate_dockerfile(path: str, text: str) -> Located:
    """Every gunicorn the image starts (last CMD/ENTRYPOINT of each stage) and its ENV."""
    located = Located()
    stages: list[Stage] = [Stage()]
    for ins in instructions(text):
        if ins.keyword == "FROM":
            stages.append(Stage())
        elif ins.keyword == "CMD":
            stages[-1].cmd = ins
        elif ins.keyword == "ENTRYPOINT":
            stages[-1].entrypoint = ins
        elif ins.keyword == "WORKDIR":
            stages[-1].workdir = ins.args.text.strip()
        elif ins.keyword == "ENV":
            located.env += _env_settings(path, ins)
    for stage in stages:
        located.extend(_stage_invocations(path, stage))
    return located


def _stage_invocations(path: str, stage: Stage) -> Located:
    entry = json_array(stage.entrypoint.args) if stage.entrypoint else None
    cmd = json_array(stage.cmd.args) if stage.cmd else None
    if entry is not None and find_in_words(entry):
        words = entry + (cmd or [])
        return invocations_in([words], path, "dockerfile", path,
                              inserter=list_inserter(words, _json_render), cwd=stage.workdir,
                              label="Dockerfile ENTRYPOINT/CMD")
    located = Located()
    for ins, array in ((stage.entrypoint, entry), (stage.cmd, cmd)):
        if ins is None:
            continue
        label = f"Dockerfile {ins.keyword}"
        if array is not None:
            located.extend(invocations_in([array], path, "dockerfile", path,
                                          inserter=list_inserter(array, _json_render),
                                          cwd=stage.workdir, label=label))
        else:
            located.extend(invocations_in(split_commands(ins.args, shell=True), path, "dockerfile",
                                          path, cwd=stage.workdir, label=label))
    return located
