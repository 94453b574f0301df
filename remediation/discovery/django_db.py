"""Django DATABASES: per alias, where CONN_MAX_AGE / CONN_HEALTH_CHECKS come from, and the edit.

The production settings module is evaluated with its star imports (split settings), so the
place that decides the live value is the one changed: a literal, an env default, a module
constant shared by aliases, a dict literal missing the key, a dj-database-url keyword, or a
new `DATABASES[alias][KEY] = value` line after the last statement that touches DATABASES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from remediation.model import Target
from remediation.discovery.compose_interp import dotenv_files, reference
from remediation.discovery.env_override import vendor_unit_file
from remediation.discovery.model import ComposeProject, Edit, Finding, FindingCode, Rank
from remediation.discovery.places import Proposal
from remediation.discovery.pyedit import append_dict_entry, append_keyword, insert_after_statement, replace_literal
from remediation.discovery.pyeval import Absent, Const, DictObj, EnvGet, Evaluator, State, TooComplex, Unknown
from remediation.discovery.pyparse import ParsedPy
from remediation.discovery.sources.base import EnvSetting
from remediation.discovery.words import is_plain

MISSING = object()
NO_DATABASE = "no database"  # the words opening a FindingCode.NO_DATABASE finding's reason
KEYS = (("CONN_MAX_AGE", "conn_max_age"), ("CONN_HEALTH_CHECKS", "conn_health_checks"))


@dataclass
class DbContext:
    target: Target
    env_by_name: dict[str, list[EnvSetting]]
    live_env: dict[str, str]
    dj_database_url_kwarg: Optional[bool]  # dj-database-url >= 1.1 known (True), older (False)
    django_has_health_checks: Optional[bool]
    gevent_remains: Optional[str]  # why CONN_MAX_AGE must not be raised, if so
    lines: Callable[[str, Optional[int]], Optional[int]]
    unread: Callable[[str], bool] = lambda var: False  # set live, value not read (Hints.unread)
    pool_possible: bool = True  # some settings text names a native pool ("pool" in OPTIONS)
    # the manager's own environment for NAME=value (discovery/env_override.py): (file, edits) or None
    override: Callable[[str, str], Optional[tuple[str, list[Edit]]]] = lambda name, value: None
    compose_project: Optional[ComposeProject] = None  # Hints.compose_project
    # whether a setting reaches the process's environment (a .env compose only interpolates from,
    # or reads not at all, does not): the orchestrator's feeds_process
    feeds: Callable[[EnvSetting], bool] = lambda env: True


def literal_env(key: str, want: Any) -> str:
    """The text of an environment value for `want` (True -> "True", as Django settings parse it)."""
    return str(want)


def wanted(key: str, target: Target) -> Any:
    return target.conn_max_age if key == "CONN_MAX_AGE" else target.conn_health_checks


def same(key: str, value: Any, want: Any) -> bool:
    if key == "CONN_HEALTH_CHECKS":
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes", "on") if want else value.strip().lower() in ("false", "0", "no", "off", "")
        return bool(value) == bool(want) and value is not None
    if value is None or isinstance(value, bool):
        return False
    try:
        return int(value) == int(want)
    except (TypeError, ValueError):
        return False


def shown(value: Any) -> Optional[str]:
    if value is MISSING:
        return None
    if isinstance(value, Const):
        return str(value.value)
    if isinstance(value, EnvGet):
        return value.show()
    if isinstance(value, Absent):
        return f"{value.default} (dj-database-url default)"
    if isinstance(value, Unknown):
        return value.why
    return type(value).__name__


def pool_status(conf: DictObj, pool_possible: bool = True) -> str:
    """'yes' if OPTIONS['pool'] is configured, 'no', or 'unknown'. A dict built at run time
    (the override at the end of the module made it) has a pool only if some settings text
    names one."""
    options = conf.entries.get("OPTIONS", MISSING)
    if options is MISSING:
        if conf.origin.kind == "runtime" and not pool_possible:
            return "no"
        return "unknown" if conf.opaque else "no"
    if not isinstance(options, DictObj):
        return "unknown"
    pool = options.entries.get("pool", MISSING)
    if pool is MISSING:
        return "unknown" if options.opaque else "no"
    if isinstance(pool, Const) and pool.value in (False, None):
        return "no"
    return "yes"


class SettingsPlanner:
    """Proposals for one production settings module."""

    def __init__(self, root: ParsedPy, evaluator: Evaluator, ctx: DbContext) -> None:
        self.root = root
        self.evaluator = evaluator
        self.ctx = ctx
        self.proposals: list[Proposal] = []
        self.states: list[State] = []
        self.subscripts: list[tuple[str, str, list]] = []  # new lines that cover every path

    def plan(self) -> list[Proposal]:
        try:
            self.states = self.evaluator.run_module(self.root)
        except TooComplex as exc:
            self.report(self.root.path, None, "CONN_MAX_AGE", None, str(exc))
            return self.proposals
        for state in self.states:
            self.plan_state(state)
        self.drop_covered()
        for proposal in self.proposals:
            proposal.groups.add(("settings", self.root.path))
        return self.proposals

    def drop_covered(self) -> None:
        """A `DATABASES[alias][KEY] = value` line after the last statement that touches
        DATABASES runs on every path: other patches of the same key on one branch are
        redundant (one insertion, not two)."""
        covered = {(alias, key): edits for alias, key, edits in self.subscripts}
        keep = []
        for proposal in self.proposals:
            f = proposal.finding
            hit = next((edits for (alias, key), edits in covered.items()
                        if f.setting == key and f.alias == alias), None)
            if hit is not None and f.action == "patch" and proposal.edits != hit:
                continue
            keep.append(proposal)
        self.proposals = keep

    # -- findings --------------------------------------------------------------------------
    def add(self, file: str, offset: Optional[int], setting: str, current, proposed, action: str,
            reason: str, edits=None, key=None, rank=None, code: Optional[FindingCode] = None) -> None:
        line = self.ctx.lines(file, offset) if offset is not None else None
        proposal = Proposal(Finding(file, line, setting, current, proposed, action, reason, code=code),
                            edits or [], key or (file, offset, setting))
        proposal.offset = offset
        proposal.rank = rank if rank is not None else Rank.of(action)
        self.proposals.append(proposal)

    def report(self, file, offset, setting, current, reason, proposed=None, key=None, rank=None) -> None:
        self.add(file, offset, setting, current, proposed, "report", reason, key=key, rank=rank)

    # -- per state / alias -----------------------------------------------------------------
    def plan_state(self, state: State) -> None:
        for note in state.hidden:
            self.report(self.root.path, None, "CONN_MAX_AGE", None,
                        f"{self.root.path}: {note}; it may override DATABASES at run time",
                        key=(self.root.path, "note", note))
        db = state.names.get("DATABASES")
        if db is None and not state.hidden:
            self.add(self.root.path, None, "CONN_MAX_AGE", None, None, "ok",
                     f"{NO_DATABASE}: {self.root.path} and the modules it imports define no DATABASES "
                     "(Django's dummy backend): no database connections to keep",
                     key=(self.root.path, "no-databases"), rank=Rank.PROTECTED, code=FindingCode.NO_DATABASE)
            return
        if db is None:
            self.report(self.root.path, None, "CONN_MAX_AGE", None,
                        f"DATABASES is not defined by {self.root.path} or the modules it imports; "
                        "it is set outside the tree", key=(self.root.path, "no-databases"))
            return
        if not isinstance(db, DictObj):
            file, offset = self.where(db)
            why = f"DATABASES is {shown(db)}: the value is only known at run time"
            self.report(file, offset, "CONN_MAX_AGE", None, why, key=(file, "note", "runtime"))
            for key, _ in KEYS:
                self.plan_override("default", key, None, f"DATABASES['default'][{key!r}]", why)
            return
        if db.origin.kind == "runtime":
            file, offset = self.where_origin(db)
            self.report(file, offset, "CONN_MAX_AGE", None,
                        f"DATABASES is {db.opaque}: the value is only known at run time",
                        key=(file, "note", "runtime"))
        elif db.opaque:
            file, offset = self.where_origin(db)
            self.report(file, offset, "CONN_MAX_AGE", None,
                        f"DATABASES aliases cannot be listed ({db.opaque})")
        for alias, conf in db.entries.items():
            self.plan_alias(state, alias, conf)

    def where(self, value) -> tuple[str, Optional[int]]:
        file = getattr(value, "file", None)
        node = getattr(value, "node", None)
        if file is not None and node is not None:
            return file.path, file.span(node)[0]
        return self.root.path, None

    def where_origin(self, obj: DictObj) -> tuple[str, Optional[int]]:
        origin = obj.origin
        if origin.file is not None and origin.node is not None:
            return origin.file.path, origin.file.span(origin.node)[0]
        return self.root.path, None

    def plan_alias(self, state: State, alias: str, conf) -> None:
        if not isinstance(conf, DictObj):
            first = len(self.proposals)
            for key, _ in KEYS:
                self.plan_override(alias, key, None, f"DATABASES[{alias!r}][{key!r}]",
                                   f"DATABASES[{alias!r}] is {shown(conf)}: only known at run time")
            for proposal in self.proposals[first:]:  # the alias, for decisions (the label is for people)
                proposal.finding.alias = alias
            self.pair_health_checks(self.proposals[first:], alias)
            return
        pool = pool_status(conf, self.ctx.pool_possible)
        first = len(self.proposals)
        self.plan_keys(state, alias, conf, pool)
        self.pair_health_checks(self.proposals[first:], alias)

    def pair_health_checks(self, mine: list[Proposal], alias: str) -> None:
        """CONN_HEALTH_CHECKS only makes sense next to a persistent CONN_MAX_AGE: where that
        was refused, the health-check patch is dropped too (one rule, here)."""
        refused = [p for p in mine if p.finding.setting == "CONN_MAX_AGE"
                   and p.finding.action == "report"]
        if not refused:
            return
        for proposal in mine:
            if proposal.finding.setting == "CONN_HEALTH_CHECKS" and proposal.finding.action == "patch":
                proposal.finding.action = "report"
                proposal.finding.reason += (f"; not patched: CONN_MAX_AGE of {alias!r} is not "
                                            "changed, and health checks alone do nothing")
                proposal.edits = []
                proposal.rank = Rank.REPORT

    def plan_keys(self, state: State, alias: str, conf: DictObj, pool: str) -> None:
        for key, kwarg in KEYS:
            want = wanted(key, self.ctx.target)
            value = conf.entries.get(key, MISSING)
            label = f"DATABASES[{alias!r}][{key!r}]"
            first = len(self.proposals)
            if pool != "no":
                self.plan_pool(state, alias, conf, key, value, pool, label)
            elif value is MISSING and conf.opaque:
                self.plan_override(alias, key, None, label, f"{label}: cannot tell ({conf.opaque})")
            else:
                self.plan_value(state, alias, conf, key, kwarg, value, want, label)
            for proposal in self.proposals[first:]:  # the alias, for decisions (the label is for people)
                proposal.finding.alias = alias

    def plan_pool(self, state, alias, conf, key, value, pool, label) -> None:
        file, offset = self.where(value) if value is not MISSING else self.where_origin(conf)
        current = shown(value)
        effective = (value.value if isinstance(value, Const) else value.default if isinstance(value, Absent)
                     else 0 if value is MISSING else None)
        if key == "CONN_MAX_AGE":
            if pool == "yes" and effective == 0:
                self.add(file, offset, key, current, None, "ok",
                         f"{label}: OPTIONS['pool'] is configured, CONN_MAX_AGE must stay 0",
                         key=self.place_key(value, conf, key), rank=Rank.PROTECTED)
            elif pool == "yes":
                self.report(file, offset, key, current,
                            f"{label}: OPTIONS['pool'] is configured; Django refuses persistent "
                            "connections with a pool (ImproperlyConfigured): set it to 0 by hand",
                            proposed="0", key=self.place_key(value, conf, key), rank=Rank.PROTECTED)
            else:
                self.report(file, offset, key, current,
                            f"{label}: OPTIONS is computed, a native pool cannot be ruled out; "
                            "not changed", key=self.place_key(value, conf, key), rank=Rank.PROTECTED)
        else:
            self.report(file, offset, key, current,
                        f"{label}: OPTIONS['pool'] is configured (or cannot be ruled out); "
                        "left as is", key=self.place_key(value, conf, key), rank=Rank.PROTECTED)

    def place_key(self, value, conf: DictObj, key: str) -> tuple:
        if value is not MISSING and getattr(value, "node", None) is not None:
            return (value.file.path, value.file.span(value.node)[0], key)
        if isinstance(value, Absent) or value is MISSING:
            root = self.root_origin(conf)
            if root is not None and root.file is not None and root.node is not None:
                return (root.file.path, root.file.span(root.node)[0], key)
        return (id(conf), key)

    @staticmethod
    def root_origin(conf: DictObj):
        origin = conf.origin
        seen = 0
        while origin.kind == "copy" and origin.source is not None and seen < 20:
            origin = origin.source.origin
            seen += 1
        return origin

    # -- one value -------------------------------------------------------------------------
    def plan_value(self, state, alias, conf, key, kwarg, value, want, label) -> None:
        raising = key == "CONN_MAX_AGE" and want not in (0, None)
        blocked = self.ctx.gevent_remains if raising else None
        file, offset = self.where(value) if value is not MISSING else self.where_origin(conf)
        current = shown(value)
        if isinstance(value, Const):
            if same(key, value.value, want):
                self.add(file, offset, key, current, None, "ok", f"{label}: already {value.value}")
            elif blocked:
                self.report(file, offset, key, current, f"{label}: not raised: {blocked}", proposed=str(want))
            elif value.node is None or value.file is None:
                self.report(file, offset, key, current, f"{label}: the value is not spelled in the source")
            else:
                edit = replace_literal(value.file, value.node, want)
                self.patch(file, offset, key, current, want, f"{label}: {value.value} -> {want}", [edit] if edit else None)
            return
        if isinstance(value, EnvGet):
            self.plan_env(file, offset, key, value, want, label, blocked)
            return
        if isinstance(value, Absent) and not same(key, value.default, want):
            self.plan_absent_kwarg(state, alias, conf, key, kwarg, want, label, blocked)
            return
        if isinstance(value, Absent):
            self.add(file, offset, key, current, None, "ok", f"{label}: dj-database-url default is already {value.default}")
            return
        if value is MISSING:
            default = 0 if key == "CONN_MAX_AGE" else False
            if same(key, default, want):
                self.add(file, offset, key, None, None, "ok", f"{label}: not set; Django's default {default} is already right")
            elif blocked:
                self.report(file, offset, key, None, f"{label}: not added: {blocked}", proposed=str(want))
            else:
                self.plan_missing(state, alias, conf, key, want, label)
            return
        self.report(file, offset, key, current, f"{label}: {shown(value)}; not changed", proposed=str(want))

    def patch(self, file, offset, key, current, want, reason, edits) -> None:
        if not edits:
            self.report(file, offset, key, current, f"{reason}, but it cannot be rewritten in place", proposed=str(want))
            return
        if key == "CONN_HEALTH_CHECKS" and self.ctx.django_has_health_checks is False:
            self.report(file, offset, key, current, f"{reason}; not patched: the pinned Django is "
                        "older than 4.1, which has no CONN_HEALTH_CHECKS", proposed=str(want))
            return
        self.add(file, offset, key, current, str(want), "patch", reason, edits=edits)

    def plan_env(self, file, offset, key, value: EnvGet, want, label, blocked) -> None:
        var = value.var
        if var in self.ctx.live_env:
            live = self.ctx.live_env[var]
            shown_live = live if is_plain(live) and len(live) < 20 else "(set)"
            action = "ok" if same(key, live, want) else "report"
            self.add(file, offset, key, f"${var}={shown_live}", None if action == "ok" else str(want), action,
                     f"{label}: the live environment sets ${var}, which wins over the default in the code")
            return
        sources = [env for env in self.ctx.env_by_name.get(var, []) if self.ctx.feeds(env)]
        for env in sources:
            self.plan_env_setting(env, key, want, label, blocked)
        if self.ctx.unread(var):  # the variable wins: patching the default would change nothing
            if not sources:
                self.plan_manager_env(file, offset, key, var, want, label, blocked)
            return
        if value.default is None:
            self.report(file, offset, key, value.show(),
                        f"{label}: read from ${var} with no default; its value comes from outside "
                        "the tree", proposed=str(want))
            return
        default = value.default
        reason = f"{label}: default of ${var} (the variable wins when set)"
        if same(key, default.value, want):
            self.add(file, offset, key, value.show(), None, "ok", f"{reason}: already {default.value}")
        elif blocked:
            self.report(file, offset, key, value.show(), f"{label}: not raised: {blocked}", proposed=str(want))
        else:
            edit = replace_literal(default.file, default.node, want) if default.node is not None else None
            dfile, doffset = default.file.path, default.file.span(default.node)[0]
            self.patch(dfile, doffset, key, value.show(), want, f"{reason}: {default.value} -> {want}",
                       [edit] if edit else None)

    def plan_manager_env(self, file, offset, key, var, want, label, blocked) -> None:
        """$var is set live by nothing the host holds: set it in the manager's own environment
        (a compose service's environment:, a supervisor program's environment=), which replaces it."""
        why = f"{label}: the live environment sets ${var} (its value is not read), which wins over the default in the code"
        found = None if blocked else self.ctx.override(var, literal_env(key, want))
        if found is None:
            self.report(file, offset, key, f"${var}=(set)", f"{why}; no file the host holds sets it"
                        + (f"; not raised: {blocked}" if blocked else ""), proposed=str(want))
            return
        where, edits = found
        self.patch(where, edits[0].start, key, f"${var}=(set)", want,
                   f"{why}; no file the host holds sets it: set in the manager's own environment ({where})", edits)

    def plan_env_setting(self, env: EnvSetting, key, want, label, blocked) -> None:
        text = env.value.text
        if env.kind == "compose" and env.expands and self.plan_interpolated(env, key, want, label, blocked):
            return
        offset = env.value.offsets[0] if text else env.offset
        reason = f"{label}: ${env.name} set in {env.file}"
        if same(key, text, want):
            self.add(env.file, offset, key, text, None, "ok", f"{reason}: already {text}")
            return
        if env.kind == "systemd" and vendor_unit_file(env.file):
            self.plan_over_vendor(env, offset, key, want, reason, blocked)
            return
        span = env.value.span(0, len(text)) if text else None
        new = str(want)
        if blocked:
            self.report(env.file, offset, key, text, f"{label}: not raised: {blocked}", proposed=new)
        elif env.expands or span is None:
            self.report(env.file, offset, key, text, f"{reason}, but it is expanded at run time", proposed=new)
        else:
            self.patch(env.file, offset, key, text, want, f"{reason}: {text} -> {new}",
                       [Edit(span[0], span[1], new)])

    def plan_over_vendor(self, env: EnvSetting, offset, key, want, reason, blocked) -> None:
        """A vendor unit's `Environment=` (a package upgrade overwrites the file): the unit's own
        override under /etc/systemd, whose later `Environment=` wins, takes the target value."""
        why = f"{reason}, a vendor unit (a package upgrade overwrites it): never edited"
        found = None if blocked else self.ctx.override(env.name, literal_env(key, want))
        if found is None:
            self.report(env.file, offset, key, env.value.text, why + (f"; not raised: {blocked}" if blocked else ""),
                        proposed=str(want))
            return
        where, edits = found
        self.patch(where, edits[0].start, key, env.value.text, want, f"{why}; overridden in {where}", edits)

    def plan_interpolated(self, env: EnvSetting, key, want, label, blocked) -> bool:
        """A compose `environment:` value that is one `${VAR}` (compose_interp): planned where
        compose takes VAR from, the project's `.env`, else the reference's default. False when
        the value is any other expansion (reported as expanded at run time)."""
        ref = reference(env.value.text)
        if ref is None:
            return False
        files = dotenv_files(env.file, self.ctx.compose_project)
        dotenv = ", ".join(files)
        sources = sorted((e for e in self.ctx.env_by_name.get(ref.var, []) if e.file in files),
                         key=lambda e: files.index(e.file))  # the last file that sets it wins
        if sources:
            self.plan_env_setting(sources[-1], key, want, f"{label} (via ${{{ref.var}}} in {env.file})", blocked)
            return True
        if ref.default is None or ref.default_start is None:
            self.report(env.file, env.offset, key, env.value.text,
                        f"{label}: ${env.name} in {env.file} is ${{{ref.var}}}, which the project's env file "
                        f"({dotenv}) does not set: compose takes it from the shell that runs it", proposed=str(want))
            return True
        reason = (f"{label}: ${env.name} in {env.file} is {env.value.text}: its default applies "
                  f"({dotenv} does not set {ref.var}; a shell that runs compose with {ref.var} set would win)")
        span = env.value.span(ref.default_start, ref.default_start + len(ref.default)) if ref.default else None
        if same(key, ref.default, want):
            self.add(env.file, env.offset, key, ref.default, None, "ok", f"{reason}: already {ref.default}")
        elif blocked:
            self.report(env.file, env.offset, key, ref.default, f"{label}: not raised: {blocked}", proposed=str(want))
        else:
            self.patch(env.file, env.offset, key, ref.default, want, f"{reason}: {ref.default} -> {want}",
                       [Edit(span[0], span[1], str(want))] if span else None)
        return True

    def plan_absent_kwarg(self, state, alias, conf, key, kwarg, want, label, blocked) -> None:
        origin = self.root_origin(conf)
        file, offset = (origin.file.path, origin.file.span(origin.node)[0]) if origin.file else (self.root.path, None)
        current = "0 (dj-database-url default)" if key == "CONN_MAX_AGE" else "False (dj-database-url default)"
        if blocked:
            self.report(file, offset, key, current, f"{label}: not added: {blocked}", proposed=str(want))
            return
        if origin.kind == "url_cast":
            self.plan_subscript(state, alias, key, want, label,
                                "the URL is parsed by a cast= (dj_database_url.parse, no options); set on the dict")
            return
        if origin.kind != "dj_database_url":
            self.report(file, offset, key, current, f"{label}: cannot find the dj_database_url call")
            return
        if key == "CONN_HEALTH_CHECKS" and self.ctx.dj_database_url_kwarg is not True:
            why = ("the pinned dj-database-url is older than 1.1 (no conn_health_checks)"
                   if self.ctx.dj_database_url_kwarg is False else
                   "conn_health_checks= needs dj-database-url >= 1.1 and no version is pinned")
            self.plan_subscript(state, alias, key, want, label, f"{why}; set on the dict instead")
            return
        edits = append_keyword(origin.file, origin.node, kwarg, want)
        self.patch(file, offset, key, current, want, f"{label}: add {kwarg}={want!r} to dj_database_url", edits)

    def plan_missing(self, state, alias, conf, key, want, label) -> None:
        origin = self.root_origin(conf)
        if origin.kind == "literal" and origin.node is not None:
            edits = append_dict_entry(origin.file, origin.node, key, want)
            file, offset = origin.file.path, origin.file.span(origin.node)[0]
            self.patch(file, offset, key, None, want, f"{label}: not set (Django default "
                       f"{0 if key == 'CONN_MAX_AGE' else False}); added to the dict", edits)
        elif origin.kind in ("environ_db", "dj_database_url"):
            self.plan_subscript(state, alias, key, want, label,
                                "env.db() reads it only from the URL query; set on the dict")
        else:
            self.plan_override(alias, key, None, label, f"{label}: not set and its dict is built at run time")

    def plan_override(self, alias: str, key: str, current, label: str, why: str) -> None:
        """Where no assignment can be edited with certainty, an explicit
        `DATABASES[alias][KEY] = value` line at the end of the module Django loads decides the
        final value (Django reads the module's final state); the re-analysis proves it."""
        want = wanted(key, self.ctx.target)
        code = override_text(alias, key, want)
        text = self.root.text
        offset = len(text)
        raising = key == "CONN_MAX_AGE" and want not in (0, None)
        where = f"at the end of {self.root.path}"
        if raising and self.ctx.gevent_remains:
            self.report(self.root.path, offset, key, current,
                        f"{why}; not raised: {self.ctx.gevent_remains}; once the worker is switched, "
                        f"add {where}: `{code}`", proposed=str(want), key=(self.root.path, "override", alias, key))
            return
        if self.ctx.pool_possible:
            self.report(self.root.path, offset, key, current,
                        f"{why}; a native pool (OPTIONS['pool']) cannot be ruled out, and Django refuses "
                        f"persistent connections with one: check it, then add {where}: `{code}`",
                        proposed=str(want), key=(self.root.path, "override", alias, key))
            return
        prefix = "" if not text or text.endswith("\n") else "\n"
        edit = Edit(offset, offset, f"{prefix}{code}\n")
        before = len(self.proposals)
        self.patch(self.root.path, offset, key, current, want,
                   f"{why}; set by an override {where}, which decides the final value", [edit])
        if len(self.proposals) > before:
            self.proposals[-1].key = (self.root.path, "override", alias, key)

    def plan_subscript(self, state, alias, key, want, label, why) -> None:
        touched = state.touched.get("DATABASES", [])
        if not touched:
            self.report(self.root.path, None, key, None, f"{label}: {why}, but no statement to anchor it")
            return
        parsed, stmt = self.anchor(touched)
        for other in self.states:
            db = other.names.get("DATABASES")
            if not isinstance(db, DictObj) or alias not in db.entries:
                self.report(parsed.path, parsed.span(stmt)[0], key, None,
                            f"{label}: {why}, but the alias does not exist on every code path",
                            proposed=str(want))
                return
        code = f'DATABASES["{alias}"]["{key}"] = {want!r}'
        noqa = _noqa(parsed, stmt)
        if noqa:
            code += f"  {noqa}"
        edit = insert_after_statement(parsed, stmt, code)
        offset = parsed.span(stmt)[0]
        before = len(self.proposals)
        self.patch(parsed.path, offset, key, None, want, f"{label}: {why}", [edit])
        if len(self.proposals) > before and self.proposals[-1].finding.action == "patch":
            self.subscripts.append((alias, key, [edit]))

    def anchor(self, touched: list[tuple[ParsedPy, Any]]) -> tuple[ParsedPy, Any]:
        """The statement after which a new `DATABASES[...][...] = ...` line goes: the last one
        that touches DATABASES on any path, so every path (an `if` that updates the dict, a
        base module and the root) sees the new line once."""
        candidates = [touched[-1]]
        for other in self.states:
            more = other.touched.get("DATABASES", [])
            if more:
                candidates.append(more[-1])
        in_root = [c for c in candidates if c[0].path == self.root.path]
        pool = in_root or candidates
        return max(pool, key=lambda c: c[0].span(c[1])[0])


def override_text(alias: str, key: str, want: Any) -> str:
    """The one line that sets KEY of DATABASES[alias], as the tool writes and reports it."""
    return f'DATABASES["{alias}"]["{key}"] = {want!r}'


def _noqa(parsed: ParsedPy, stmt) -> str:
    """The `# noqa: ...` marker of the anchor line, so linters treat the new line alike."""
    _, end = parsed.span(stmt)
    line_end = parsed.text.find("\n", end - 1 if end else 0)
    line = parsed.text[parsed.text.rfind("\n", 0, max(end - 1, 0)) + 1 : line_end if line_end >= 0 else None]
    marker = line.find("# noqa")
    return line[marker:].strip() if marker >= 0 else ""
