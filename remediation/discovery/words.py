"""Shell-style word splitting that remembers where every character came from.

`shlex` gives the words but not their positions; an in-place edit needs both. The splitter here
follows POSIX quoting (the rules `shlex.split` implements in posix mode, plus shell operators,
comments, line continuations and here-documents when asked) and records, for each character of
each word, its offset in the original file. A value can then be replaced where it stands, inside
quotes, YAML scalars or JSON strings, without touching anything else. Callers re-parse the
edited text with `shlex` to verify the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Mapped:
    """A string plus, for each character, its offset in the file it came from."""

    text: str
    offsets: Sequence[int]
    end: int  # file offset just past the mapped text (where an append would go)

    @classmethod
    def region(cls, file_text: str, start: int = 0, end: Optional[int] = None) -> "Mapped":
        end = len(file_text) if end is None else end
        return cls(file_text[start:end], range(start, end), end)

    def sub(self, i: int, j: Optional[int] = None) -> "Mapped":
        j = len(self.text) if j is None else j
        stop = self.offsets[j] if j < len(self.text) else self.end
        return Mapped(self.text[i:j], self.offsets[i:j], stop)

    def span(self, i: int, j: int) -> Optional[tuple[int, int]]:
        """File span of text[i:j] if it is stored contiguously, verbatim."""
        if i >= j:
            return None
        first, last = self.offsets[i], self.offsets[j - 1]
        if last - first != j - 1 - i:
            return None
        return first, last + 1


@dataclass(frozen=True)
class Origin:
    """Characters value[start:end] of a word are the value of `var` as set in another file (a
    systemd EnvironmentFile= line, say): their offsets index `file`, so an edit inside them lands
    there."""

    var: str
    file: str
    start: int
    end: int
    label: str  # where it is set, for people: `GUNICORN_OPTS in etc/default/app`


@dataclass(frozen=True)
class Word:
    """One word after quote removal, with the file offset of each character."""

    value: str
    offsets: Sequence[int]
    raw_start: int  # file span of the raw word, quotes included
    raw_end: int
    expands: bool = False  # contains a $-expansion or command substitution
    quoted: bool = False
    resolved_from: Optional[str] = None  # value read from another file's setting (not editable here)
    origins: tuple[Origin, ...] = ()  # expanded from variables set in other files (editable there)

    def origin_of(self, i: int, j: Optional[int] = None) -> Optional[Origin]:
        """The one origin holding all of value[i:j], if any."""
        j = len(self.value) if j is None else j
        return next((o for o in self.origins if o.start <= i and j <= o.end and i < j), None)

    def span(self, i: int = 0, j: Optional[int] = None) -> Optional[tuple[int, int]]:
        """File span of value[i:j] if it is stored verbatim and contiguously."""
        j = len(self.value) if j is None else j
        if i >= j:
            return None
        first, last = self.offsets[i], self.offsets[j - 1]
        if last - first != j - 1 - i:
            return None
        return first, last + 1

    def mapped(self) -> Mapped:
        return Mapped(self.value, self.offsets, self.raw_end)


OPERATOR_CHARS = ";&|()"
REDIRECT_CHARS = "<>"


class _Splitter:
    def __init__(self, src: Mapped, shell: bool, expansions: bool) -> None:
        self.src = src
        self.text = src.text
        self.shell = shell
        self.expansions = expansions
        self.commands: list[list[Word]] = []
        self.current: list[Word] = []
        self.heredocs: list[tuple[str, bool]] = []
        self.skip_next_word = False

    def off(self, i: int) -> int:
        return self.src.offsets[i] if i < len(self.text) else self.src.end

    def end_command(self) -> None:
        if self.current:
            self.commands.append(self.current)
        self.current = []

    def run(self) -> list[list[Word]]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            c = text[i]
            if c in " \t\r":
                i += 1
            elif c == "\n":
                i += 1
                if self.shell:
                    self.end_command()
                    i = self.skip_heredocs(i)
            elif c == "\\" and i + 1 < n and text[i + 1] == "\n":
                i += 2
            elif self.shell and c == "#":
                while i < n and text[i] != "\n":
                    i += 1
            elif self.shell and c in OPERATOR_CHARS:
                self.end_command()
                i += 1
            elif self.shell and c in REDIRECT_CHARS:
                i = self.redirect(i)
            else:
                i = self.word(i)
        self.end_command()
        return self.commands

    def redirect(self, i: int) -> int:
        text, n = self.text, len(self.text)
        start = i
        while i < n and text[i] in "<>&-":
            i += 1
        op = text[start:i]
        while i < n and text[i] in " \t":
            i += 1
        j = self.word(i, keep=False)
        if op.startswith("<<") and j > i:
            delimiter = text[i:j].strip("'\"")
            self.heredocs.append((delimiter, op.startswith("<<-")))
        return j

    def skip_heredocs(self, i: int) -> int:
        text = self.text
        while self.heredocs:
            delimiter, strip_tabs = self.heredocs.pop(0)
            while i < len(text):
                nl = text.find("\n", i)
                line_end = len(text) if nl < 0 else nl
                line = text[i:line_end]
                i = line_end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        return i

    def word(self, i: int, keep: bool = True) -> int:
        text, n = self.text, len(self.text)
        value: list[str] = []
        offs: list[int] = []
        start = i
        expands = quoted = False

        def add(k: int) -> None:
            value.append(text[k])
            offs.append(self.off(k))

        while i < n:
            c = text[i]
            if c in " \t\r\n" or (self.shell and c in OPERATOR_CHARS + REDIRECT_CHARS):
                if self.shell and c in REDIRECT_CHARS and value and "".join(value).isdigit():
                    value, offs = [], []  # file descriptor prefix such as 2>
                    start = i
                break
            if c == "\\":
                if i + 1 < n and text[i + 1] == "\n":
                    i += 2
                    continue
                if i + 1 < n:
                    add(i + 1)
                i += 2
            elif c == "'":
                quoted = True
                i += 1
                while i < n and text[i] != "'":
                    add(i)
                    i += 1
                i += 1
            elif c == '"':
                quoted = True
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`\n':
                        if text[i + 1] != "\n":
                            add(i + 1)
                        i += 2
                        continue
                    if self.expansions and text[i] in "$`":
                        expands = True
                    add(i)
                    i += 1
                i += 1
            elif self.expansions and c == "$" and i + 1 < n and text[i + 1] in "({":
                expands = True
                opener = text[i + 1]
                close = ")" if opener == "(" else "}"
                depth = 0
                quote = ""
                while i < n:
                    add(i)
                    ch = text[i]
                    if quote:
                        if ch == quote:
                            quote = ""
                        elif ch == "\\" and quote == '"' and i + 1 < n:
                            i += 1
                            add(i)
                    elif ch in "'\"" and opener == "(":
                        quote = ch  # `$(awk '{ print $1 }')`: braces inside quotes do not count
                    elif ch == opener:
                        depth += 1
                    elif ch == close:
                        depth -= 1
                        if depth == 0:
                            i += 1
                            break
                    i += 1
            elif self.expansions and c in "$`":
                expands = True
                add(i)
                i += 1
            else:
                add(i)
                i += 1
        if keep and i > start:
            raw_end = self.off(i - 1) + 1
            self.current.append(
                Word("".join(value), tuple(offs), self.off(start), raw_end, expands, quoted)
            )
        return i


def split_commands(src: Mapped, *, shell: bool = True, expansions: bool = True) -> list[list[Word]]:
    """Split text into commands of words.

    shell=True: newlines and `; & | ( )` end commands, `#` starts a comment, redirections and
    here-documents are dropped. shell=False: everything is one command, like `shlex.split`.
    """
    return _Splitter(src, shell, expansions).run()


def split_words(src: Mapped, *, expansions: bool = False) -> list[Word]:
    """Words of a single command line, split like `shlex.split(text)`."""
    commands = split_commands(src, shell=False, expansions=expansions)
    return commands[0] if commands else []


@dataclass(frozen=True)
class ParamDefault:
    """`${NAME:-default}` (or `${NAME-default}`): the variable and where its default sits."""

    name: str
    default: str
    start: int  # index of the default inside the word value
    end: int


def param_default(word: Word, at: int = 0) -> Optional[ParamDefault]:
    """Recognise word.value[at:] being exactly one parameter expansion with a literal default.
    Positions in the result index word.value."""
    value = word.value[at:]
    if not (value.startswith("${") and value.endswith("}")):
        return None
    inner = value[2:-1]
    for sep in (":-", ":=", "-", "="):
        name, found, default = inner.partition(sep)
        if found and name.replace("_", "a").isalnum() and not any(c in default for c in "${}`"):
            start = at + 2 + len(name) + len(sep)
            if len(default) >= 2 and default[0] == default[-1] and default[0] in "'\"":
                default, start = default[1:-1], start + 1  # ${X:-"sync"}: the shell drops them
            return ParamDefault(name, default, start, start + len(default))
    return None


def is_plain(value: str) -> bool:
    """Text that needs no quoting in shell, YAML, JSON, ini or Python string context."""
    return bool(value) and all(c.isalnum() or c in "._:-/=" for c in value)
