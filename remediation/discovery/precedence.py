"""Effective gunicorn settings of one deployment, and what to change to reach the target.

Precedence, highest first: command line, GUNICORN_CMD_ARGS, config file, environment defaults
(WEB_CONCURRENCY), gunicorn's defaults. The first layer that certainly sets a setting wins; the
places it overrides are dead. Layers that only may apply (a loose env file, a config that sets
the value on some code paths) stay live next to the winner above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from remediation.model import Target
from remediation.discovery.model import LIVE_ENV, Finding, FindingCode, Rank
from remediation.discovery.places import Layer, Place, Proposal
from remediation.discovery.worker_classes import classify, describe

GEVENT_CODE_AFTER_SWITCH = "gevent-specific code left in place"  # said only when a switch lands
DEFAULTS = {"worker_class": "sync", "workers": "1", "threads": "1", "worker_connections": "1000"}
NO_REUSE = {
    "asgi": ("{} is an ASGI worker, and Django's docs say persistent connections should be "
             "disabled under ASGI"),
    "custom": "{} is a custom worker class: whether it reuses connections cannot be told",
}


@dataclass
class Deployment:
    """One way gunicorn is started (or a config file whose command is not in the tree)."""

    label: str
    file: str
    offset: Optional[int]
    layers: list[Layer]
    known_command: bool = True
    blockers: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, what
    gevent_code: list[tuple[str, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: tuple[str, ...] = ()  # other files its command line takes words from (a unit's env files)


@dataclass
class Resolution:
    live: list[Place]
    dead: list[tuple[Place, str]]
    winner: Optional[Layer]
    unknown: Optional[Layer]


def resolve(dep: Deployment, setting: str) -> Resolution:
    """Live and dead places of one setting."""
    live: list[Place] = []
    dead: list[tuple[Place, str]] = []
    winner: Optional[Layer] = None
    unknown: Optional[Layer] = None
    for layer in dep.layers:
        dead += [(p, why) for p, why in layer.dead if p.setting == setting]
        places = layer.places.get(setting, [])
        if winner is not None:
            dead += [(p, f"overridden by the {winner.label}") for p in places]
            continue
        if layer.unknown and unknown is None:
            unknown = layer
        live += places
        if layer.decides(setting):
            winner = layer
    return Resolution(live, dead, winner, unknown)


def wanted(target: Target) -> dict[str, str]:
    values = {"worker_class": target.worker_class, "workers": str(target.workers),
              "threads": str(target.threads)}
    if target.worker_class != "sync":
        values["worker_connections"] = str(target.worker_connections)
    return values


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _finding(place: Place, action: str, proposed: Optional[str], reason: str, lines,
             code: Optional[FindingCode] = None) -> Finding:
    line = lines(place.file, place.offset) if place.offset is not None else None
    return Finding(place.file, line, place.setting, place.current, proposed, action, reason, value=place.value,
                   code=code)


class DeploymentPlanner:
    """Turns one deployment's layers into proposals."""

    def __init__(self, dep: Deployment, target: Target, lines) -> None:
        self.dep = dep
        self.target = target
        self.lines = lines
        self.want = wanted(target)
        self.proposals: list[Proposal] = []
        self.gevent_remains = False
        self.no_reuse: Optional[str] = None  # a kept worker under which CONN_MAX_AGE must stay
        self.class_unknown = False  # gevent_remains only because the class cannot be told

    # -- helpers ---------------------------------------------------------------------------
    def emit(self, place: Place, action: str, proposed: Optional[str], reason: str,
             edits=None, rank: Optional[int] = None, code: Optional[FindingCode] = None) -> None:
        text = f"{place.label}: {reason}" if place.label else reason
        if place.note and action != "ok":
            note = place.note
            if code == FindingCode.DEAD:  # a higher source overrides it: the variable decides nothing
                note = note.replace("; the variable wins when set", "; a higher source overrides both")
            text += f" ({note})"
        proposal = Proposal(_finding(place, action, proposed, text, self.lines, code), edits or [],
                            place.key, place.span, place.offset)
        proposal.rank = Rank.of(action) if rank is None else rank
        self.proposals.append(proposal)

    def set_place(self, place: Place, new: str, why: str) -> bool:
        """Patch a place to `new`, or report why it cannot be; True if patched."""
        if place.setter is None:
            if self.over_live_cmd_args(place, new, why):
                return True
            self.emit(place, "report", new, f"{why}, but {place.fixed or 'it cannot be rewritten'}")
            return False
        edits = place.setter(new)
        if not edits:
            self.emit(place, "report", new, f"{why}, but the value cannot be rewritten in place")
            return False
        self.emit(place, "patch", new, why, edits)
        return True

    def over_live_cmd_args(self, place: Place, new: str, why: str) -> bool:
        """GUNICORN_CMD_ARGS set live by nothing the host holds: the flag goes on the command line
        in the manager's own file (supervisor command=, ExecStart=, compose command:), which wins
        over the variable; the variable's flag is then dead. True when it was added there."""
        if place.file != LIVE_ENV or place.layer != "cmd_args":
            return False
        cli = next((layer for layer in self.dep.layers if layer.name == "cli" and layer.adder and layer.certain), None)
        if cli is None:
            return False
        before = len(self.proposals)
        self.emit(place, "ok", None, f"{why}: {place.fixed}; the command line, which wins over it, gets the flag",
                  rank=Rank.DEAD, code=FindingCode.DEAD)
        self.add_setting(place.setting, new, cli, f"{place.setting} {new} over GUNICORN_CMD_ARGS (live)")
        if self.proposals[-1].finding.action != "patch":
            del self.proposals[before:]
            return False
        return True

    def insert_layer(self, decided_by: Optional[Layer]) -> Optional[Layer]:
        if decided_by is not None and decided_by.adder is not None:
            return decided_by
        candidates = [layer for layer in self.dep.layers if layer.adder is not None and layer.certain]
        for name in ("config", "cli", "cmd_args"):
            for layer in candidates:
                if layer.name == name:
                    return layer
        return None

    def add_setting(self, setting: str, value: str, layer: Optional[Layer], why: str) -> None:
        offset = layer.add_offset if layer else self.dep.offset
        file = layer.add_file if layer and layer.add_file else self.dep.file
        line = self.lines(file, offset) if offset is not None else None
        if layer is None or layer.adder is None:
            reason = f"{self.dep.label}: {why}; no place in the tree to add it"
            self.proposals.append(_proposal(Finding(file, line, setting, None, value, "report", reason),
                                            (file, "add", setting), "report"))
            return
        edits = layer.adder(setting, value)
        if not edits:
            reason = f"{self.dep.label}: {why}; cannot add it to the {layer.label}"
            self.proposals.append(_proposal(Finding(file, line, setting, None, value, "report", reason),
                                            (file, "add", setting), "report"))
            return
        reason = f"{self.dep.label}: {why}; added to the {layer.label}"
        proposal = _proposal(Finding(file, line, setting, None, value, "patch", reason),
                             (file, "add", setting, tuple(edits)), "patch")
        proposal.edits = edits
        proposal.offset = offset
        self.proposals.append(proposal)

    def report_dead(self, res: Resolution, want: Optional[str]) -> None:
        for place, why in res.dead:
            same = want is not None and place.value == want
            self.emit(place, "ok" if same else "report", None if same else want,
                      f"dead: {why}; not changed", rank=Rank.DEAD, code=FindingCode.DEAD)

    # -- the plan --------------------------------------------------------------------------
    def plan(self) -> list[Proposal]:
        proposals = self._plan()
        for proposal in proposals:
            proposal.groups.add(("deployment", self.dep.file, self.dep.offset, self.dep.label))
        return proposals

    def _plan(self) -> list[Proposal]:
        cls = resolve(self.dep, "worker_class")
        threads = resolve(self.dep, "threads")
        if self.keeps_workers(cls, threads):
            return self.proposals
        if not self.check_class(cls) or not self.check_threads(cls, threads):
            return self.proposals
        if not self.plan_class(cls, threads):
            return self.proposals
        for setting in ("workers", "threads", "worker_connections"):
            self.plan_size(setting, resolve(self.dep, setting), cls)
        switched = any(p.finding.setting == "worker_class" and p.finding.action == "patch"
                       for p in self.proposals)
        for file, line, what in self.dep.gevent_code if switched else []:
            reason = (f"{GEVENT_CODE_AFTER_SWITCH} ({what}); it does nothing useful under "
                      f"{self.want['worker_class']}: review and remove it after the switch")
            self.proposals.append(_proposal(Finding(file, line, "worker_class", None, None,
                                                    "report", reason, code=FindingCode.GEVENT_CODE),
                                            (file, "gevent-code", line), "report"))
        return self.proposals

    def keeps_workers(self, cls: Resolution, threads: Resolution) -> bool:
        """A healthy worker (sync, gthread, sync with threads, ASGI, custom non-gevent) keeps its
        class, workers and threads: those are the owner's capacity choices. Only a gevent-style
        worker (or one that cannot be known) goes on to the switch. True when nothing changes."""
        kinds = [classify(p.value) if p.value is not None else None for p in cls.live]
        if None in kinds or "gevent" in kinds or "custom-gevent" in kinds or self.dep.blockers:
            return False
        if cls.winner is None and cls.unknown is not None:
            return False  # decided in a source that cannot be read: check_class reports it
        if cls.winner is None and not self.dep.known_command and not cls.live:
            return False  # orphan config: check_class reports it
        if not cls.live and self.dep.gevent_code:
            return self.hooks_without_class()
        values = [_int(p.value) for p in threads.live]
        threaded = (" (with threads > 1: it already runs the gthread worker)"
                    if values and all(v is not None and v > 1 for v in values) else "")
        for place in cls.live:
            kind = classify(place.value)
            if kind in ("asgi", "custom"):
                self.emit(place, "report", None, f"{describe(kind, place.value)}; its worker "
                          "settings are kept", code=FindingCode.KEPT_CLASS)
                self.no_reuse = self.no_reuse or NO_REUSE[kind].format(place.value)
            else:
                self.emit(place, "ok", None, f"{place.value}{threaded} worker reuses DB "
                          "connections; class, workers and threads are kept")
        if not cls.live:
            self.emit_default("worker_class", DEFAULTS["worker_class"], None,
                              f"no class set: gunicorn's default sync worker{threaded} reuses DB "
                              "connections; class, workers and threads are kept")
        for place, why in cls.dead:
            self.emit(place, "ok", None, f"dead: {why}; not changed", rank=Rank.DEAD, code=FindingCode.DEAD)
        for setting in ("workers", "threads"):  # read, so a static view shows them (not the defaults)
            for place in resolve(self.dep, setting).live:
                self.emit(place, "ok", None, f"{setting} {place.value}: kept (the owner's capacity choice)")
        return True

    def hooks_without_class(self) -> bool:
        """No worker class anywhere in the tree, yet gevent-specific code (a psycogreen post_fork,
        monkey-patching) in its gunicorn sources: the class is set outside the tree (the
        platform's GUNICORN_CMD_ARGS, say) and is probably gevent. Nothing is switched, and
        CONN_MAX_AGE must not rise."""
        file, line, what = self.dep.gevent_code[0]
        reason = (f"{self.dep.label}: no worker class is set in the tree, but {what} ({file}:{line}) "
                  "only makes sense under gevent: the class is probably set outside the tree (the "
                  f"platform's GUNICORN_CMD_ARGS, say); set `--worker-class {self.want['worker_class']} "
                  f"--threads {self.want['threads']}` there")
        at = self.lines(self.dep.file, self.dep.offset) if self.dep.offset is not None else None
        self.proposals.append(_proposal(Finding(self.dep.file, at, "worker_class", None,
                                                self.want["worker_class"], "report", reason),
                                        (self.dep.file, "hooks-only", self.dep.label), "report"))
        self.gevent_remains = True
        self.class_unknown = True
        return True

    def check_class(self, cls: Resolution) -> bool:
        """Report what cannot be switched; False stops all worker changes for this deployment."""
        ok = True
        for place in cls.live:
            if place.value is None:
                self.emit(place, "report", self.want["worker_class"],
                          f"worker class decided at run time ({place.fixed or place.current})")
                self.gevent_remains = True
                self.class_unknown = True
                ok = False
                continue
            kind = classify(place.value)
            if kind in ("asgi", "custom", "custom-gevent"):
                self.emit(place, "report", None, describe(kind, place.value))
                self.gevent_remains |= kind == "custom-gevent"
                ok = False
        if cls.winner is None and cls.unknown is not None:
            reason = (f"{self.dep.label}: the worker class is not set on the command line and "
                      f"{cls.unknown.unknown}")
            line = self.lines(self.dep.file, self.dep.offset) if self.dep.offset is not None else None
            self.proposals.append(_proposal(Finding(self.dep.file, line, "worker_class", None,
                                                    self.want["worker_class"], "report", reason),
                                            (self.dep.file, "unknown", self.dep.label), "report"))
            self.gevent_remains = True
            self.class_unknown = True
            ok = False
        if cls.winner is None and not self.dep.known_command and cls.unknown is None:
            gevent = [p for p in cls.live if classify(p.value or "") == "gevent"]
            if not gevent and not cls.live:
                reason = (f"{self.dep.label}: no worker class here and no gunicorn command in "
                          "the tree; the live value is decided outside the tree")
                line = None
                self.proposals.append(_proposal(Finding(self.dep.file, line, "worker_class", None,
                                                        None, "report", reason),
                                                (self.dep.file, "orphan"), "report"))
                return False
        if self.dep.blockers and any(classify(p.value or "") == "gevent" for p in cls.live):
            for file, line, what in self.dep.blockers:
                reason = (f"{what} (line {line}) runs in the gunicorn master and keeps greenlet "
                          "semantics even under gthread; remove it by hand, then re-run")
                self.proposals.append(_proposal(Finding(file, line, "worker_class", "gevent", None,
                                                        "report", reason),
                                                (file, "blocker", line), "report"))
            for place in cls.live:
                self.emit(place, "report", None, "not switched while gevent monkey-patching stays")
            self.gevent_remains = True
            ok = False
        if not ok:
            self.report_dead(cls, None)
        return ok

    def check_threads(self, cls: Resolution, threads: Resolution) -> bool:
        """Switching to gthread without control over `threads` could leave one thread per
        worker: refuse the switch (and the rest) when threads cannot be set."""
        if self.want["worker_class"] != "gthread":
            return True
        stuck = [p for p in threads.live
                 if p.value is None or (p.setter is None and _int(p.value) != _int(self.want["threads"]))]
        switching = any(classify(p.value or "") != "gthread" for p in cls.live) or cls.winner is None
        if not stuck or not switching:
            return True
        why = "; ".join(f"{p.label}: {p.fixed or p.current}" for p in stuck)
        for place in cls.live:
            self.emit(place, "report", self.want["worker_class"],
                      f"not switched: threads is decided at run time ({why}); gthread could end "
                      "up with one thread per worker. Fix threads first")
            self.gevent_remains |= classify(place.value or "") == "gevent"
        for place in stuck:
            self.emit(place, "report", self.want["threads"], f"value decided at run time ({place.fixed or place.current})")
        if not cls.live:
            line = self.lines(self.dep.file, self.dep.offset) if self.dep.offset is not None else None
            self.proposals.append(_proposal(Finding(self.dep.file, line, "worker_class", None,
                                                    self.want["worker_class"], "report",
                                                    f"{self.dep.label}: not switched: threads is "
                                                    f"decided at run time ({why})"),
                                            (self.dep.file, "stuck", self.dep.label), "report"))
        return False

    def plan_class(self, cls: Resolution, threads: Resolution) -> bool:
        """Switch the class where needed; False if a switch failed (then nothing else changes)."""
        want = self.want["worker_class"]
        switched = True
        thread_values = [_int(p.value) for p in threads.live]
        threaded = threads.winner is not None and all(v is not None and v > 1 for v in thread_values)
        for place in cls.live:
            kind = classify(place.value)
            if want == "gthread" and kind == "sync" and threaded:
                self.emit(place, "ok", None, f"sync with threads={threads.live[0].value} already "
                          "runs the gthread worker")
            elif kind == classify(want):
                self.emit(place, "ok", None, f"already {place.value}")
            elif not self.set_place(place, want, f"{place.value} -> {want}"):
                switched = False
                self.gevent_remains |= kind == "gevent"
        if cls.winner is None:
            default = DEFAULTS["worker_class"]
            if want == "gthread" and threaded:
                self.emit_default("worker_class", default, want,
                                  f"no class set, and threads={threads.live[0].value} already runs "
                                  "the gthread worker")
            elif want == default:
                self.emit_default("worker_class", default, want)
            else:
                layer = self.insert_layer(None)
                self.add_setting("worker_class", want, layer,
                                 f"worker class not set (gunicorn default {default})")
                switched = switched and self.proposals[-1].finding.action == "patch"
        self.report_dead(cls, want)
        if not switched:
            # Keep the class and its sizing together: undo this deployment's other patches.
            for proposal in self.proposals:
                if proposal.finding.action == "patch":
                    proposal.finding.action = "report"
                    proposal.finding.reason += "; not patched: the worker class could not be switched"
                    proposal.edits = []
        return switched

    def plan_size(self, setting: str, res: Resolution, cls: Resolution) -> None:
        want = self.want.get(setting)
        if want is None:
            return  # worker_connections does not apply to sync workers
        if setting == "threads" and self.target.worker_class == "sync":
            want_text = "1"
        else:
            want_text = want
        for place in res.live:
            if place.value is None:
                self.emit(place, "report", want_text, f"value decided at run time ({place.fixed or place.current})")
            elif _int(place.value) == _int(want_text):
                self.emit(place, "ok", None, f"already {place.value}")
            else:
                self.set_place(place, want_text, f"{place.value} -> {want_text}")
        if res.winner is None and setting == "workers" and self.dep.known_command and res.unknown is None \
                and _int(want_text) != _int(DEFAULTS["workers"]) and (_int(self.want.get("threads")) or 1) > 1:
            self.keep_run_time_workers()
        elif res.winner is None:
            default = DEFAULTS[setting]
            layer = self.insert_layer(cls.winner)
            if res.unknown is not None:
                if layer is not None and layer.name in ("cli", "cmd_args"):
                    self.add_setting(setting, want_text, layer,
                                     f"{setting} may be set in {res.unknown.unknown}")
                else:
                    self.add_setting(setting, want_text, None,
                                     f"{setting} may be set in {res.unknown.unknown}")
            elif _int(default) == _int(want_text):
                self.emit_default(setting, default, want_text)
            elif not self.dep.known_command and setting != "threads":
                # The command line (and WEB_CONCURRENCY) live outside the tree and may set it.
                line = self.lines(self.dep.file, layer.add_offset) if layer and layer.add_offset is not None else None
                reason = (f"{self.dep.label}: {setting} not set here; the command line or "
                          "environment outside the tree decides it (gunicorn default "
                          f"{default}); set {want_text} there")
                self.proposals.append(_proposal(Finding(self.dep.file, line, setting, None,
                                                        want_text, "report", reason),
                                                (self.dep.file, "outside", setting), "report"))
            else:
                self.add_setting(setting, want_text, layer,
                                 f"{setting} not set (gunicorn default {default})")
        self.report_dead(res, want_text)

    def keep_run_time_workers(self) -> None:
        """No place in the tree sets workers: gunicorn takes $WEB_CONCURRENCY from the run-time
        environment (the platform's sizing), else 1. A literal added here would override that
        sizing; the threads give the new worker its concurrency, so workers are kept."""
        line = self.lines(self.dep.file, self.dep.offset) if self.dep.offset is not None else None
        reason = (f"{self.dep.label}: workers not set in the tree: gunicorn uses $WEB_CONCURRENCY when "
                  "the platform sets it, else 1; kept (the app's sizing), never replaced by a literal")
        self.proposals.append(_proposal(Finding(self.dep.file, line, "workers", None, None, "ok", reason,
                                                default=True),
                                        (self.dep.file, "default", self.dep.offset, "workers"), "ok"))

    def emit_default(self, setting: str, default: str, want: str, why: str = "") -> None:
        if self.dep.known_command:
            line = self.lines(self.dep.file, self.dep.offset) if self.dep.offset is not None else None
            why = why or f"not set; gunicorn's default {default} is already right"
            reason = f"{self.dep.label}: {why}"
            self.proposals.append(_proposal(Finding(self.dep.file, line, setting, default, None,
                                                    "ok", reason, default=True),
                                            (self.dep.file, "default", self.dep.offset, setting), "ok"))


def _proposal(finding: Finding, key: tuple, action: str) -> Proposal:
    proposal = Proposal(finding, [], key)
    proposal.rank = Rank.of(action)
    return proposal
