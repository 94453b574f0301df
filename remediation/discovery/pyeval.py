"""A small abstract interpreter for module-level Python (gunicorn configs, Django settings).

It runs the statements of a module the way Python would at import time, but with abstract
values: literals (remembering the node that holds them), environment lookups with their
literal default, dicts with identity (aliases and copies behave like the real thing), and
`Unknown` for anything computed. `if`/`try` produce several possible states; star imports and
simple `from x import NAME` imports of modules inside the tree are followed.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import libcst as cst

from remediation.discovery.pyparse import ParsedPy

MAX_STATES = 64
MERGE_AT = 8  # past this many paths, paths that agree on the watched names are merged
CASTS = {"int": int, "float": float, "str": str, "bool": bool}
ENV_GETTERS = {"os.getenv", "os.environ.get", "os.environ.setdefault", "decouple.config",
               "environs.Env", "prettyconf.config"}
ENVIRON_TYPED = {"int", "bool", "str", "float", "get_value"}
DJ_DATABASE_URL = {"dj_database_url.config", "dj_database_url.parse"}


class TooComplex(Exception):
    """The module has more branches than we are willing to follow."""


@dataclass(frozen=True)
class Const:
    """A literal value and the node that spells it."""

    value: Any
    node: Optional[cst.CSTNode]
    file: Optional[ParsedPy]

    def show(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class EnvGet:
    """`os.getenv("X", default)` and friends: the variable wins, the default is a literal."""

    var: str
    default: Optional[Const]
    node: cst.CSTNode
    file: ParsedPy
    cast: Optional[str] = None

    def show(self) -> str:
        default = f", default {self.default.value!r}" if self.default else ""
        return f"${self.var}{default}"


@dataclass(frozen=True)
class Unknown:
    """A value we cannot know statically, and why."""

    why: str
    node: Optional[cst.CSTNode] = None
    file: Optional[ParsedPy] = None

    def show(self) -> str:
        return self.why


@dataclass(frozen=True)
class Ref:
    """A module, function or object we recognise by its dotted name (`os.environ`, `env`)."""

    name: str


@dataclass(frozen=True)
class Absent:
    """A dict key a library fills in with its own default (dj-database-url kwargs)."""

    default: Any


@dataclass
class Origin:
    """Where a dict was created, so a missing key can be added there."""

    kind: str  # literal | dj_database_url | environ_db | copy | runtime | unknown
    node: Optional[cst.CSTNode] = None
    file: Optional[ParsedPy] = None
    source: Optional["DictObj"] = None


@dataclass(eq=False)
class DictObj:
    """A dict with identity; entries map string keys to values."""

    entries: dict[str, Any]
    origin: Origin
    opaque: Optional[str] = None  # keys we could not see (a ** of something unknown, ...)


Value = Union[Const, EnvGet, Unknown, Ref, Absent, DictObj, "Func"]


@dataclass(frozen=True)
class Func:
    name: str
    node: cst.FunctionDef
    file: ParsedPy


@dataclass
class State:
    """Module globals on one path through the code, plus what happened on the way."""

    names: dict[str, Value] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    touched: dict[str, list[tuple[ParsedPy, cst.CSTNode]]] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)  # the notes of code that may set any global at run time

    def clone(self) -> "State":
        memo: dict[int, DictObj] = {}
        return State({k: _clone(v, memo) for k, v in self.names.items()}, list(self.notes),
                     {k: list(v) for k, v in self.touched.items()}, list(self.hidden))

    def hide(self, note: str) -> None:
        """Code the reading cannot follow may set any global (a star import of a module not in
        the tree, globals().update): said as a note, and known as such (State.hidden)."""
        self.notes.append(note)
        self.hidden.append(note)


def _clone(value: Value, memo: dict[int, DictObj]) -> Value:
    if isinstance(value, DictObj):
        if id(value) not in memo:
            copy = DictObj({}, value.origin, value.opaque)
            memo[id(value)] = copy
            copy.entries = {k: _clone(v, memo) for k, v in value.entries.items()}
        return memo[id(value)]
    return value


def signature(value: Any, memo: Optional[dict[int, int]] = None) -> Any:
    """A hashable description of an abstract value; nodes by identity, dicts by content."""
    memo = {} if memo is None else memo
    if isinstance(value, DictObj):
        if id(value) in memo:
            return ("cycle", memo[id(value)])
        memo[id(value)] = len(memo)
        origin = value.origin
        return ("dict", origin.kind, id(origin.node), value.opaque,
                tuple((k, signature(v, memo)) for k, v in value.entries.items()))
    if isinstance(value, Const):
        return ("const", repr(value.value), id(value.node))
    if isinstance(value, EnvGet):
        return ("env", value.var, signature(value.default, memo), id(value.node), value.cast)
    if isinstance(value, Unknown):
        return ("unknown", value.why, id(value.node))
    if isinstance(value, Func):
        return ("func", id(value.node))
    if isinstance(value, (Ref, Absent)):
        return (type(value).__name__, repr(value))
    return ("other", id(value))


def merge_states(states: list["State"], watch: tuple[str, ...]) -> list["State"]:
    """Paths that agree on every watched name (and on what touched it) become one path.

    Names they disagree on become Unknown: sound, only less precise. So branches that never
    touch DATABASES (DEBUG toggles, logging, feature flags) do not multiply the paths."""
    groups: dict[Any, list[State]] = {}
    for s in states:
        key = tuple((name, signature(s.names.get(name)),
                     tuple(id(n) for _, n in s.touched.get(name, [])))
                    for name in watch)
        groups.setdefault(key, []).append(s)
    merged = []
    for group in groups.values():
        first = group[0]
        for other in group[1:]:
            for name in set(first.names) | set(other.names):
                mine, theirs = first.names.get(name), other.names.get(name)
                if mine is not theirs and signature(mine) != signature(theirs):
                    first.names[name] = Unknown(f"{name} differs between branches")
            for note in other.notes:
                if note not in first.notes:
                    first.notes.append(note)
            for note in other.hidden:
                if note not in first.hidden:
                    first.hidden.append(note)
            for name, touched in other.touched.items():
                have = first.touched.setdefault(name, [])
                have += [t for t in touched if all(t[1] is not h[1] for h in have)]
        merged.append(first)
    return merged


def literal(node: cst.CSTNode, file: ParsedPy) -> Optional[Const]:
    """The constant a literal node spells, or None."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return Const(node.evaluated_value, node, file)
    if isinstance(node, cst.SimpleString):
        return Const(node.evaluated_value, node, file)
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return Const({"True": True, "False": False, "None": None}[node.value], node, file)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal(node.expression, file)
        if inner is not None and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            return Const(-inner.value, node, file)
    return None


def string_key(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


Loader = Callable[[str, Optional[str], int], Optional[ParsedPy]]


class Evaluator:
    """Run module-level statements over abstract states."""

    def __init__(self, load: Loader, watch: tuple[str, ...] = ()) -> None:
        self.load = load  # (dotted, importer path, level) -> ParsedPy or None
        self.watch = watch  # global names whose writers are recorded in State.touched
        self.stack: list[str] = []
        self.file: Optional[ParsedPy] = None
        self.stmt: Optional[cst.CSTNode] = None
        self.cache: dict[str, list[State]] = {}
        self.visited: set[str] = set()

    # -- modules ---------------------------------------------------------------------------
    def run_module(self, parsed: ParsedPy, states: Optional[list[State]] = None) -> list[State]:
        states = states if states is not None else [State()]
        if parsed.path in self.stack:
            for s in states:
                s.notes.append(f"circular import of {parsed.path}")
            return states
        self.stack.append(parsed.path)
        self.visited.add(parsed.path)
        outer, outer_stmt = self.file, self.stmt
        self.file = parsed
        try:
            return self.block(parsed.module.body, states, top=True)
        finally:
            self.file, self.stmt = outer, outer_stmt
            self.stack.pop()

    # -- statements ------------------------------------------------------------------------
    def block(self, body, states: list[State], top: bool = False) -> list[State]:
        for stmt in body:
            if top:
                self.stmt = stmt
            states = self.statement(stmt, states)
            if len(states) > MERGE_AT:
                states = merge_states(states, self.watch)
            if len(states) > MAX_STATES:
                raise TooComplex(f"more than {MAX_STATES} branches in {self.file.path}")
        return states

    def statement(self, stmt, states: list[State]) -> list[State]:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                states = self.small(small, states)
            return states
        if isinstance(stmt, cst.If):
            return self.if_(stmt, states)
        if isinstance(stmt, cst.Try):
            return self.try_(stmt, states)
        if isinstance(stmt, cst.For):
            return self.for_(stmt, states)
        if isinstance(stmt, (cst.While, cst.With)):
            entered = self.block(stmt.body.body, [s.clone() for s in states])
            return entered + (states if isinstance(stmt, cst.While) else [])
        if isinstance(stmt, cst.FunctionDef):
            for s in states:
                s.names[stmt.name.value] = Func(stmt.name.value, stmt, self.file)
            return states
        if isinstance(stmt, cst.ClassDef):
            for s in states:
                s.names[stmt.name.value] = Unknown(f"class {stmt.name.value}", stmt, self.file)
            return states
        for s in states:
            s.notes.append(f"unsupported statement at line {self.file.line(stmt)}")
        return states

    def if_(self, stmt: cst.If, states: list[State]) -> list[State]:
        result = []
        for s in states:
            test = self.expr(stmt.test, s)
            if isinstance(test, Const):
                chosen = stmt.body.body if test.value else self._else_body(stmt)
                result += self.block(chosen, [s])
                continue
            taken = self.block(stmt.body.body, [s.clone()])
            other = self.block(self._else_body(stmt), [s])
            result += taken + other
        return result

    @staticmethod
    def _else_body(stmt: cst.If):
        orelse = stmt.orelse
        if orelse is None:
            return []
        if isinstance(orelse, cst.If):
            return [orelse]
        return orelse.body.body

    def try_(self, stmt: cst.Try, states: list[State]) -> list[State]:
        handlers = []
        for handler in stmt.handlers:
            handlers += self.block(handler.body.body, [s.clone() for s in states])
        body = self.block(stmt.body.body, states)
        if stmt.orelse is not None:
            body = self.block(stmt.orelse.body.body, body)
        result = body + handlers
        if stmt.finalbody is not None:
            result = self.block(stmt.finalbody.body.body, result)
        return result

    def for_(self, stmt: cst.For, states: list[State]) -> list[State]:
        result = []
        for s in states:
            iterations = self._iterations(stmt, s)
            if iterations is None:
                s.notes.append(f"loop at line {self.file.line(stmt)} over unknown items")
                self._bind(stmt.target, Unknown("loop variable", stmt, self.file), s)
                result += self.block(stmt.body.body, [s])
                continue
            current = [s]
            for bindings in iterations:
                for c in current:
                    for target, value in bindings:
                        self._bind(target, value, c)
                current = self.block(stmt.body.body, current)
            result += current
        return result

    def _iterations(self, stmt: cst.For, s: State):
        it = stmt.iter
        method = None
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and not it.args:
            method = it.func.attr.value
            it = it.func.value
        if isinstance(it, (cst.Tuple, cst.List)) and method is None:
            keys = [literal(e.value, self.file) for e in it.elements]
            if all(k is not None for k in keys):
                return [[(stmt.target, k)] for k in keys]
            return None
        obj = self.expr(it, s)
        if not isinstance(obj, DictObj) or obj.opaque:
            return None
        out = []
        for key, value in obj.entries.items():
            key_const = Const(key, None, None)
            if method in (None, "keys"):
                out.append([(stmt.target, key_const)])
            elif method == "values":
                out.append([(stmt.target, value)])
            elif method == "items" and isinstance(stmt.target, cst.Tuple) and len(stmt.target.elements) == 2:
                k_t, v_t = (e.value for e in stmt.target.elements)
                out.append([(k_t, key_const), (v_t, value)])
            else:
                return None
        return out

    def _bind(self, target, value: Value, s: State) -> None:
        if isinstance(target, cst.Name):
            s.names[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind(element.value, Unknown("unpacked value", target, self.file), s)
        elif isinstance(target, cst.Subscript):
            self._set_item(target, value, s)

    # -- small statements ------------------------------------------------------------------
    def small(self, node, states: list[State]) -> list[State]:
        if isinstance(node, cst.ImportFrom) and isinstance(node.names, cst.ImportStar):
            return self._star_import(node, states)
        for s in states:
            self._small(node, s)
        return states

    def _star_import(self, node: cst.ImportFrom, states: list[State]) -> list[State]:
        module = self.file.code(node.module) if node.module is not None else ""
        level = len(node.relative)
        parsed = self.load(module, self.file.path, level)
        if parsed is None:
            if level or not _is_library(module):
                for s in states:
                    s.hide(f"star import of {'.' * level}{module}, which is not in the tree")
            return states
        return self.run_module(parsed, states)

    def _small(self, node, s: State) -> None:
        if isinstance(node, cst.Assign):
            value = self.expr(node.value, s)
            for target in node.targets:
                self._bind(target.target, value, s)
                self._touch(target.target, s)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            self._bind(node.target, self.expr(node.value, s), s)
            self._touch(node.target, s)
        elif isinstance(node, cst.AugAssign):
            self._bind(node.target, Unknown(f"computed with {self.file.code(node).strip()}", node, self.file), s)
            self._touch(node.target, s)
        elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
            self._call_statement(node.value, s)
        elif isinstance(node, cst.Del):
            self._delete(node.target, s)
        elif isinstance(node, cst.Import):
            for alias in node.names:
                full = self.file.code(alias.name)
                bound = alias.asname.name.value if alias.asname else full.split(".")[0]
                s.names[bound] = Ref(full if alias.asname else full.split(".")[0])
        elif isinstance(node, cst.ImportFrom):
            self._import_from(node, s)

    def _touch(self, target, s: State) -> None:
        root = target
        while isinstance(root, (cst.Subscript, cst.Attribute)):
            root = root.value
        if isinstance(root, cst.Name) and root.value in self.watch:
            s.touched.setdefault(root.value, []).append((self.file, self.stmt))

    def _call_statement(self, call: cst.Call, s: State) -> None:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            obj = self.expr(func.value, s)
            self._touch(func.value, s)
            if isinstance(obj, DictObj) and method == "update":
                self._update(obj, call, s)
            elif isinstance(obj, DictObj) and method == "setdefault" and call.args:
                key = string_key(call.args[0].value)
                if key is None:
                    obj.opaque = "setdefault with a computed key"
                elif key not in obj.entries:
                    value = self.expr(call.args[1].value, s) if len(call.args) > 1 else Const(None, None, None)
                    obj.entries[key] = value
            elif isinstance(obj, DictObj) and method in ("clear", "pop", "popitem"):
                obj.opaque = f".{method}() at line {self.file.line(call)}"
            elif isinstance(obj, Ref) and obj.name == "globals" and method == "update":
                s.hide(f"globals().update at line {self.file.line(call)}")
        name = self.ref_name(func, s)
        if name and name.endswith("monkey.patch_all"):
            s.notes.append(f"gevent monkey.patch_all() at line {self.file.line(call)}")

    def _update(self, obj: DictObj, call: cst.Call, s: State) -> None:
        for arg in call.args:
            if arg.keyword is not None:
                obj.entries[arg.keyword.value] = self.expr(arg.value, s)
            elif arg.star == "**" or arg.star == "":
                source = self.expr(arg.value, s)
                if isinstance(source, DictObj) and not source.opaque:
                    obj.entries.update(source.entries)
                else:
                    obj.opaque = f".update() with a computed mapping at line {self.file.line(call)}"
            else:
                obj.opaque = f".update(*...) at line {self.file.line(call)}"

    def _delete(self, target, s: State) -> None:
        if isinstance(target, cst.Name):
            s.names.pop(target.value, None)
        elif isinstance(target, cst.Subscript):
            obj = self.expr(target.value, s)
            key = self._subscript_key(target)
            if isinstance(obj, DictObj) and key is not None:
                obj.entries.pop(key, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._delete(element.value, s)

    def _import_from(self, node: cst.ImportFrom, s: State) -> None:
        module = self.file.code(node.module) if node.module is not None else ""
        level = len(node.relative)
        for alias in node.names:
            name = self.file.code(alias.name)
            bound = alias.asname.name.value if alias.asname else name
            full = f"{module}.{name}" if module else name
            if level == 0 and _is_library(module):
                s.names[bound] = Ref(full)
                continue
            parsed = self.load(module, self.file.path, level)
            if parsed is None:
                s.names[bound] = Unknown(f"{bound} is imported from {'.' * level}{module}, which "
                                         "is not in the tree", node, self.file)
                continue
            imported = self.imported_states(parsed)
            values = [st.names.get(name) for st in imported]
            first = values[0] if values else None
            if first is None or any(v != first for v in values[1:]):
                s.names[bound] = Unknown(f"{name} imported from {parsed.path} differs per branch",
                                         node, self.file)
            else:
                s.names[bound] = first

    def imported_states(self, parsed: ParsedPy) -> list[State]:
        if parsed.path not in self.cache:
            saved = (self.file, self.stmt)
            try:
                self.cache[parsed.path] = self.run_module(parsed)
            finally:
                self.file, self.stmt = saved
        return self.cache[parsed.path]

    # -- expressions -----------------------------------------------------------------------
    def ref_name(self, node, s: State) -> Optional[str]:
        value = self.expr(node, s)
        return value.name if isinstance(value, Ref) else None

    def expr(self, node, s: State) -> Value:
        lit = literal(node, self.file)
        if lit is not None:
            return lit
        if isinstance(node, cst.Name):
            if node.value in s.names:
                return s.names[node.value]
            if hasattr(builtins, node.value):
                return Ref(node.value)
            return Unknown(f"undefined name {node.value}", node, self.file)
        if isinstance(node, cst.Attribute):
            base = self.expr(node.value, s)
            if isinstance(base, Ref):
                return Ref(f"{base.name}.{node.attr.value}")
            if isinstance(base, Unknown):
                return _derived(self.file.code(node), base, node, self.file)
            return Unknown(f"attribute {self.file.code(node)}", node, self.file)
        if isinstance(node, cst.Subscript):
            return self._subscript(node, s)
        if isinstance(node, cst.Dict):
            return self._dict(node, s)
        if isinstance(node, cst.Call):
            return self._call(node, s)
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
            left = self.expr(node.left, s)
            right = self.expr(node.right, s)
            if isinstance(left, EnvGet) and left.default is None and isinstance(right, Const):
                return EnvGet(left.var, right, node, self.file, left.cast)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            inner = self.expr(node.expression, s)
            if isinstance(inner, Const):
                return Const(not inner.value, None, None)
            if isinstance(inner, DictObj) and not inner.opaque:
                return Const(not inner.entries, None, None)
        if isinstance(node, cst.ConcatenatedString):
            return Unknown("concatenated string", node, self.file)
        return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)

    def _subscript_key(self, node: cst.Subscript) -> Optional[str]:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        return string_key(node.slice[0].slice.value)

    def _subscript(self, node: cst.Subscript, s: State) -> Value:
        base = self.expr(node.value, s)
        key = self._subscript_key(node)
        if isinstance(base, Unknown):
            return _derived(self.file.code(node), base, node, self.file)
        if isinstance(base, Ref) and base.name == "os.environ" and key is not None:
            return EnvGet(key, None, node, self.file)
        if isinstance(base, DictObj) and key is not None:
            if key in base.entries:
                return base.entries[key]
            return Unknown(f"missing key {key!r}", node, self.file)
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            index = self.expr(node.slice[0].slice.value, s)
            if isinstance(base, DictObj) and isinstance(index, Const) and isinstance(index.value, str):
                return base.entries.get(index.value, Unknown(f"missing key {index.value!r}", node, self.file))
        return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)

    def _set_item(self, target: cst.Subscript, value: Value, s: State) -> None:
        obj = self.expr(target.value, s)
        if isinstance(obj, (Unknown, EnvGet)):
            obj = self._materialise(target.value, obj, s)
        if not isinstance(obj, DictObj):
            return
        key = self._subscript_key(target)
        if key is None and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
            index = self.expr(target.slice[0].slice.value, s)
            if isinstance(index, Const) and isinstance(index.value, str):
                key = index.value
        if key is None:
            obj.opaque = f"item set with a computed key at line {self.file.line(target)}"
            return
        obj.entries[key] = value

    def _materialise(self, node, value: Union[Unknown, EnvGet], s: State) -> Optional[DictObj]:
        """`DATABASES["default"]["K"] = v` on a value only known at run time: the keys set
        afterwards are certain, whatever the run-time dict holds. The unknown value becomes a
        dict of kind "runtime" (its other keys cannot be listed) that holds them. Only for the
        watched names (DATABASES), where that final state is what the tool reads."""
        root = node
        while isinstance(root, cst.Subscript):
            root = root.value
        if not isinstance(root, cst.Name) or root.value not in self.watch:
            return None
        made = DictObj({}, Origin("runtime", value.node, value.file), f"built at run time ({value.show()})")
        if isinstance(node, cst.Name):
            s.names[node.value] = made
            return made
        if isinstance(node, cst.Subscript):
            parent = self.expr(node.value, s)
            if isinstance(parent, (Unknown, EnvGet)):
                parent = self._materialise(node.value, parent, s)
            key = self._subscript_key(node)
            if isinstance(parent, DictObj) and key is not None:
                parent.entries[key] = made
                return made
        return None

    def _dict(self, node: cst.Dict, s: State) -> DictObj:
        obj = DictObj({}, Origin("literal", node, self.file))
        for element in node.elements:
            if isinstance(element, cst.StarredDictElement):
                source = self.expr(element.value, s)
                if isinstance(source, DictObj):
                    obj.entries.update(source.entries)
                    obj.opaque = obj.opaque or source.opaque
                else:
                    obj.opaque = f"** of {_short(self.file.code(element.value))}"
                continue
            key = string_key(element.key)
            if key is None and isinstance(element.key, cst.Name):
                named = s.names.get(element.key.value)  # DEFAULT_DB_ALIAS = "default"
                if isinstance(named, Const) and isinstance(named.value, str):
                    key = named.value
            if key is None:
                obj.opaque = f"computed key {_short(self.file.code(element.key))}"
                continue
            obj.entries[key] = self.expr(element.value, s)
        return obj

    def _call(self, node: cst.Call, s: State) -> Value:
        func = node.func
        if isinstance(func, cst.Attribute):
            base = self.expr(func.value, s)
            method = func.attr.value
            if isinstance(base, DictObj):
                if method == "copy" and not node.args:
                    return DictObj(dict(base.entries), Origin("copy", node, self.file, base), base.opaque)
                if method == "get" and node.args:
                    key = string_key(node.args[0].value)
                    if key is not None and key in base.entries:
                        return base.entries[key]
                    if len(node.args) > 1:
                        return self.expr(node.args[1].value, s)
                return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)
            if isinstance(base, Ref) and base.name.startswith("env:"):
                return self._environ(base, method, node, s)
        callee = self.expr(func, s)
        if isinstance(callee, Unknown):
            return _derived(self.file.code(node), callee, node, self.file)
        name = callee.name if isinstance(callee, Ref) else None
        if name in CASTS and len(node.args) == 1:
            inner = self.expr(node.args[0].value, s)
            if isinstance(inner, Const):
                try:
                    return Const(CASTS[name](inner.value), inner.node, inner.file)
                except (TypeError, ValueError):
                    return Unknown(f"{name}({inner.value!r}) fails", node, self.file)
            if isinstance(inner, EnvGet):
                return EnvGet(inner.var, inner.default, node, self.file, name)
        if name in ENV_GETTERS or (name or "").endswith(("os.getenv", "os.environ.get")):
            return self._env_get(node, s, name)
        if name in ("environ.Env", "environs.Env") or name == "environ.FileAwareEnv":
            return Ref(f"env:{self.file.path}")
        if isinstance(callee, Ref) and callee.name.startswith("env:"):
            return self._env_get(node, s, callee.name)
        if name in DJ_DATABASE_URL:
            return self._dj_database_url(node, s)
        if name in ("dict", "copy.copy", "copy.deepcopy") and node.args:
            source = self.expr(node.args[0].value, s)
            if isinstance(source, DictObj):
                memo: dict[int, DictObj] = {}
                entries = ({k: _clone(v, memo) for k, v in source.entries.items()}
                           if name == "copy.deepcopy" else dict(source.entries))
                copy = DictObj(entries, Origin("copy", node, self.file, source), source.opaque)
                for arg in node.args[1:]:
                    if arg.keyword is not None:
                        copy.entries[arg.keyword.value] = self.expr(arg.value, s)
                return copy
        return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)

    def _environ(self, base: Ref, method: str, node: cst.Call, s: State) -> Value:
        if method in ("db", "db_url", "database_url"):
            return DictObj({}, Origin("environ_db", node, self.file), None)
        if method in ENVIRON_TYPED:
            return self._env_get(node, s, base.name, cast=method if method != "get_value" else None)
        return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)

    def _env_get(self, node: cst.Call, s: State, name: Optional[str], cast: Optional[str] = None) -> Value:
        args = [a for a in node.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if not args:
            return Unknown(f"computed: {_short(self.file.code(node))}", node, self.file)
        var = string_key(args[0].value)
        if var is None:
            return Unknown("environment lookup with a computed name", node, self.file)
        default_node = kwargs.get("default", args[1].value if len(args) > 1 else None)
        if "cast" in kwargs:
            cast_value = self.expr(kwargs["cast"], s)
            cast = cast_value.name if isinstance(cast_value, Ref) else "custom"
            if cast in DJ_DATABASE_URL:  # decouple: config("DATABASE_URL", cast=dj_database_url.parse)
                return DictObj({"CONN_MAX_AGE": Absent(0), "CONN_HEALTH_CHECKS": Absent(False)},
                               Origin("url_cast", node, self.file), None)
        default = None
        if default_node is not None:
            default = literal(default_node, self.file)
            if default is None:
                return Unknown(f"${var} with a computed default {_short(self.file.code(default_node))}",
                               node, self.file)
        return EnvGet(var, default, node, self.file, cast)

    def _dj_database_url(self, node: cst.Call, s: State) -> DictObj:
        kwargs = {a.keyword.value: a for a in node.args if a.keyword is not None}
        entries: dict[str, Value] = {}
        for kw, key, default in (("conn_max_age", "CONN_MAX_AGE", 0),
                                 ("conn_health_checks", "CONN_HEALTH_CHECKS", False)):
            entries[key] = self.expr(kwargs[kw].value, s) if kw in kwargs else Absent(default)
        if any(a.star for a in node.args):
            return DictObj(entries, Origin("dj_database_url", node, self.file), "**kwargs in the call")
        return DictObj(entries, Origin("dj_database_url", node, self.file), None)


LIBRARIES = ("os", "sys", "django", "environ", "decouple", "dj_database_url", "pathlib", "json",
             "multiprocessing", "gevent", "psycogreen", "logging", "socket", "typing", "copy",
             "warnings", "ssl", "sentry_sdk", "environs", "configparser", "yaml", "toml",
             "tomllib", "urllib", "datetime", "re", "platform", "importlib", "celery",
             "prettyconf", "dotenv", "psycopg", "psycopg2")


def _is_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def _derived(code: str, base: Unknown, node, file) -> Unknown:
    """An unknown value computed from another one: name the code and the root cause."""
    root = base.why.split(" <- ")[-1]
    return Unknown(f"{_short(code)} <- {root}", node, file)


def _short(code: str) -> str:
    code = " ".join(code.split())
    return code if len(code) <= 60 else code[:57] + "..."
