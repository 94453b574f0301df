"""audit_files: find every gunicorn and DATABASES source in a tree, plan, patch and verify.

Pure: takes a mapping of relative paths to text, returns findings, patched texts and a diff.
`remediate` (over SSH) and `audit --path` (local) both call it.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional, Union

from remediation.model import Target
from remediation.discovery.compose_interp import dotenv_files, dotenv_values, resolved
from remediation.discovery.deployments import Built, DeploymentBuilder
from remediation.discovery.env_override import override_edit, vendor_unit_file
from remediation.discovery.django_db import DbContext, SettingsPlanner
from remediation.discovery.classify import kind_of
from remediation.discovery.model import (AuditResult, ComposeProject, Edit, EditConflict, Finding, FindingCode, Hints,
                                         LIVE_COMMAND, Rank, apply_edits, unified_diff)
from remediation.discovery.pairing import pair
from remediation.discovery.places import Proposal
from remediation.discovery.precedence import DeploymentPlanner
from remediation.discovery.pyeval import Evaluator
from remediation.discovery.pyparse import ParsedPy
from remediation.discovery.settings_select import Pointer, choose, name_class
from remediation.discovery.sources.base import EnvSetting, Issue
from remediation.discovery.template_branches import gevent_in_conditionals
from remediation.discovery import validate
from remediation.discovery.tree import Tree
from remediation.discovery.versions import scan as scan_versions

MAX_VERIFY_ROUNDS = 5
ASGI_SERVERS = {"uvicorn", "daphne", "hypercorn"}


class Plan:
    """Proposals for one tree, before edits are applied."""

    def __init__(self, tree: Tree, target: Target, hints: Hints) -> None:
        self.tree = tree
        self.target = target
        self.hints = hints
        self.proposals: list[Proposal] = []
        self.gevent_remains: Optional[str] = None
        self.built = Built()  # the tree's deployments (what restarted_hints maps the live command to)

    def build(self) -> "Plan":
        try:
            built = DeploymentBuilder(self.tree, self.hints).build()
        except Exception as exc:  # no traceback on any input: say so and stop the worker side
            self.add(Finding("<tree>", None, "worker_class", None, None, "report",
                             f"the gunicorn sources could not be analysed ({_crash(exc)}); "
                             "nothing patched on the worker side"))
            self.gevent_remains = "the gunicorn sources could not be analysed"
            built = Built()
        self.built = built
        self.gunicorn(built)
        self.lookalikes()
        self.django(built)
        self.issues(built)
        return self

    # -- gunicorn --------------------------------------------------------------------------
    def gunicorn(self, built: Built) -> None:
        remains, kept, unknown = [], [], []
        for dep in built.deployments:
            planner = DeploymentPlanner(dep, self.target, self.tree.line)
            try:
                self.proposals += planner.plan()
            except Exception as exc:
                self.add(Finding(dep.file, None, "worker_class", None, None, "report",
                                 f"{dep.label}: could not be analysed ({_crash(exc)}); not patched"))
                remains.append(dep.label)
                continue
            if planner.gevent_remains and planner.class_unknown:
                unknown.append(dep.label)
            elif planner.gevent_remains:
                remains.append(dep.label)
            if planner.no_reuse:
                kept.append(f"{planner.no_reuse} ({dep.label})")
        if built.not_gunicorn:
            self.add(Finding(LIVE_COMMAND, None, "worker_class", None, None, "report",
                             f"the live command is not gunicorn ({built.not_gunicorn[:80]}); "
                             "gunicorn sources in the tree are not what runs"))
        for inv in built.not_live:
            why = (f"replaced by the command of {built.replaced[id(inv)]} (compose runs the service's command:, "
                   "not the image's)" if id(inv) in built.replaced else "not the live command line (see the ps hint)")
            self.add(Finding(inv.file, self.tree.line(inv.file, inv.offset), "worker_class", None, None,
                             "report", f"{inv.label}: {why}; left untouched", code=FindingCode.NOT_LIVE))
        held = self.template_branches()
        if remains:
            self.gevent_remains = f"gunicorn still runs a gevent-style worker ({', '.join(remains)})"
        elif held:
            self.gevent_remains = held
        elif unknown:
            self.gevent_remains = (f"the worker class cannot be told from the tree ({', '.join(unknown)}): "
                                   "it may be gevent")
        elif kept:
            self.gevent_remains = kept[0]

    def template_branches(self) -> Optional[str]:
        """A gevent-style class inside a template conditional may be what another rendering runs:
        unless a planned switch in the same file comes after the block (a later assignment
        wins), the worker may stay gevent and CONN_MAX_AGE must not rise. Reported, once."""
        held = []
        for path, text in self.tree.texts.items():
            template = self.tree.template(path)
            if template is None:
                continue
            for branch in gevent_in_conditionals(text, template):
                after = [p for p in self.proposals if p.finding.file == path and p.finding.action == "patch"
                         and p.finding.setting == "worker_class" and p.edits
                         and all(e.start >= branch.block_end for e in p.edits)]
                if after and path.endswith((".py", ".py.j2")):
                    continue
                line = self.tree.line(path, branch.offset)
                self.add(Finding(path, line, "worker_class", branch.name, None, "report",
                                 f"{branch.name} inside a template conditional: another rendering of "
                                 f"{path} may run it; not switched here, set it where the template's "
                                 "variables are defined"))
                held.append(f"{path}:{line}")
        if held:
            return f"a template conditional may still run a gevent-style worker ({', '.join(held)})"
        return None

    def lookalikes(self) -> None:
        for look in self.tree.located.lookalikes:
            reason = f"{look.what}, not gunicorn ({look.detail}): not patched"
            if look.gevent:
                reason += "; it runs gevent, so persistent DB connections would leak there too"
                self.gevent_remains = self.gevent_remains or f"{look.what} in {look.file} runs gevent"
            elif look.what in ASGI_SERVERS:
                reason += "; an ASGI server, under which Django's docs say to disable persistent connections"
                self.gevent_remains = self.gevent_remains or (
                    f"{look.what} in {look.file} serves ASGI, and Django's docs say persistent "
                    "connections should be disabled under ASGI")
            self.add(Finding(look.file, self.tree.line(look.file, look.offset), "worker_class",
                             look.what, None, "report", reason))
        for path, text in self.tree.texts.items():
            if not path.endswith(".py"):
                continue
            if "SENTRY_WEB_OPTIONS" in text:
                line = self.tree.line(path, text.find("SENTRY_WEB_OPTIONS"))
                self.add(Finding(path, line, "workers", None, None, "report",
                                 "SENTRY_WEB_OPTIONS configures Sentry's own web server (uWSGI), "
                                 "not gunicorn: not patched"))
            if "pywsgi" in text and _imports_pywsgi(self.tree, path):
                self.gevent_remains = self.gevent_remains or f"{path} serves with gevent.pywsgi"
                line = self.tree.line(path, text.find("pywsgi"))
                self.add(Finding(path, line, "worker_class", "gevent.pywsgi", None, "report",
                                 "a gevent.pywsgi WSGIServer script, not gunicorn: not patched; "
                                 "persistent DB connections leak under it"))

    # -- django ----------------------------------------------------------------------------
    def _override(self, name: str, value: str):
        """(file, edits) giving the process NAME=value through its manager's own environment."""
        found = self.hints.env_override
        return override_edit(self.tree.texts, found, name, value) if found is not None else None

    def django(self, built: Built) -> None:
        env_pointers = [Pointer(e.value.text, e.file, e.offset, "env")
                        for e in self.tree.located.env if e.name == "DJANGO_SETTINGS_MODULE"]
        env_pointers += [Pointer(m, f, o, "env") for m, f, o in built.settings_pointers]
        live_dsm = self.hints.env.get("DJANGO_SETTINGS_MODULE")
        choice = choose(self.tree, self.hints.settings_module or live_dsm, env_pointers)
        versions = scan_versions(self.tree.texts)
        versions.pin_installed(self.hints.versions)
        env_by_name = defaultdict(list)
        for env in self.tree.located.env:
            if not image_env_replaced(self.tree, env):
                env_by_name[env.name].append(env)
        ctx = DbContext(self.target, env_by_name, dict(self.hints.env),
                        versions.at_least("dj-database-url", (1, 1)),
                        versions.at_least("django", (4, 1)),
                        self.gevent_remains, self.tree.line, self.hints.unread,
                        pool_possible=_names_a_pool(self.tree, choice.settings_files + choice.roots),
                        override=self._override, compose_project=self.hints.compose_project,
                        feeds=feeds_process(self.tree, self.hints.compose_project))
        for pointer in choice.unresolved:
            self.add(Finding(pointer.file or "<hint>", self.tree.line(pointer.file, pointer.offset),
                             "CONN_MAX_AGE", None, None, "report",
                             f"settings module {pointer.module} ({pointer.strength}) is not in the tree",
                             code=FindingCode.SETTINGS_NOT_IN_TREE, module=pointer.module))
        if choice.roots or choice.dev_refused or choice.settings_files:
            self.add(Finding(choice.roots[0] if choice.roots else (choice.dev_refused or ["<settings>"])[0],
                             None, "CONN_MAX_AGE", None, None, "ok" if choice.roots else "report",
                             f"production settings: {', '.join(choice.roots) or 'none'} "
                             f"({choice.why})"))
        visited: set[str] = set()
        for root in choice.roots:
            parsed = self.tree.parsed(root)
            if not isinstance(parsed, ParsedPy):
                self.add(Finding(root, self.tree.error_lines.get(root), "CONN_MAX_AGE", None, None,
                                 "report", f"production settings {root}: {parsed}"))
                continue
            evaluator = Evaluator(self.tree.load_module, watch=("DATABASES",))
            try:
                self.proposals += [self._unloaded(p) for p in SettingsPlanner(parsed, evaluator, ctx).plan()]
            except RecursionError:
                self.add(Finding(root, None, "CONN_MAX_AGE", None, None, "report",
                                 f"production settings {root}: nested too deeply to analyse; "
                                 "not patched"))
            except Exception as exc:
                self.add(Finding(root, None, "CONN_MAX_AGE", None, None, "report",
                                 f"production settings {root}: could not be analysed "
                                 f"({_crash(exc)}); not patched"))
            visited |= evaluator.visited
        self.not_served_by_gunicorn(choice.roots)
        for path in choice.settings_files:
            if path in visited or path in choice.roots:
                continue
            parsed = self.tree.parsed(path)
            if not isinstance(parsed, ParsedPy):
                self.add(Finding(path, self.tree.error_lines.get(path), "CONN_MAX_AGE", None, None,
                                 "report", f"{parsed}"))
                continue
            kind = "dev" if path in choice.dev_refused else name_class(path)
            what = {"test": "test settings", "dev": "development settings",
                    "example": "an example settings file (a template to copy)"}.get(kind, "settings")
            roots = ", ".join(choice.roots) or "none found"
            self.add(Finding(path, None, "CONN_MAX_AGE", None, None, "report",
                             f"{what} not used by the production settings ({roots}); left untouched",
                             code=FindingCode.NOT_PRODUCTION))

    def not_served_by_gunicorn(self, roots: list[str]) -> None:
        """Only an app served by gunicorn is this tool's business: where the tree starts the app
        with another server (uWSGI, granian...) and starts no gunicorn anywhere, its settings are
        the owner's choice and are left as they are."""
        if self.hints.command or self.tree.located.invocations or not self.tree.located.lookalikes:
            return
        look = self.tree.located.lookalikes[0]
        why = (f"the app is served by {look.what} ({look.file}), not gunicorn, and no gunicorn "
               "command is in the tree: not this tool's business")
        for proposal in self.proposals:
            if proposal.finding.file in roots or any(g == ("settings", r) for r in roots for g in proposal.groups):
                if proposal.finding.setting in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
                    _refuse(proposal, why)

    def _unloaded(self, proposal: Proposal) -> Proposal:
        """A settings file the app's own settings import does not load (a branch on DJANGO_ENV
        that runs elsewhere, say) is not production here, whatever the static reading says."""
        loaded = self.hints.loaded_settings
        python = self.tree.kinds.get(proposal.finding.file, "").startswith("python")
        # only a Python settings file can be unloaded: a variable's place (a compose or env file,
        # a manager's environment) is not imported by the settings, and decides what they read
        if python and loaded is not None and proposal.finding.file not in loaded and proposal.finding.action == "patch":
            _refuse(proposal, "the app's settings import on this host does not load this file")
            # not production here: no half of the fix is missing because of it
            proposal.groups = {g for g in proposal.groups if not (g and g[0] == "settings")}
        return proposal

    # -- files that could not be read ------------------------------------------------------
    def issues(self, built: Built) -> None:
        for issue in self.tree.issues + self.tree.located.issues:
            self.add_issue(issue)
        for path, error in built.config_errors.items():
            self.add(Finding(path, self.tree.error_lines.get(path), "worker_class", None, None, "report",
                             f"gunicorn config cannot be read: {error}"))

    def add_issue(self, issue: Issue) -> None:
        self.add(Finding(issue.file, self.tree.line(issue.file, issue.offset), issue.setting,
                         issue.current, None, "report", issue.reason, code=issue.code))

    def add(self, finding: Finding) -> None:
        proposal = Proposal(finding, [], finding.key())
        proposal.rank = Rank.of(finding.action)
        self.proposals.append(proposal)


def _crash(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


POOL = re.compile(r"""["']pool["']""")


def _names_a_pool(tree: Tree, settings: list[str]) -> bool:
    """Whether a native pool may be configured where the analysis cannot see: some Python file
    that could hold settings spells the "pool" key."""
    paths = set(settings) | {p for p, t in tree.texts.items() if p.endswith(".py") and "OPTIONS" in t}
    return any(POOL.search(tree.texts.get(p, "")) for p in paths)


def _imports_pywsgi(tree: Tree, path: str) -> bool:
    import libcst as cst

    parsed = tree.parsed(path)
    if not isinstance(parsed, ParsedPy):
        return False
    for node in parsed.module.body:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                if isinstance(small, cst.ImportFrom) and small.module is not None:
                    if parsed.code(small.module) == "gevent.pywsgi" or (
                            parsed.code(small.module) == "gevent" and "pywsgi" in parsed.code(small)):
                        return True
                if isinstance(small, cst.Import) and "gevent.pywsgi" in parsed.code(small):
                    return True
    return False


# -- merging, guarding and applying ----------------------------------------------------------

def merge(proposals: list[Proposal]) -> list[Proposal]:
    """One proposal per place: when deployments or aliases disagree, the highest rank wins.

    A place that one user wants patched and another needs unchanged (a constant shared by a
    pooled alias) becomes a report naming both."""
    chosen: dict[tuple, Proposal] = {}
    patches: dict[tuple, list[Proposal]] = {}
    order: list[tuple] = []
    for proposal in proposals:
        key = proposal.key or proposal.finding.key()
        if proposal.finding.action == "patch":
            patches.setdefault(key, []).append(proposal)
        if key not in chosen:
            chosen[key] = proposal
            order.append(key)
        elif proposal.rank > chosen[key].rank:
            proposal.groups |= chosen[key].groups
            chosen[key] = proposal
        else:
            chosen[key].groups |= proposal.groups
    for key, winner in chosen.items():
        wanted = patches.get(key)
        if wanted and winner.rank > Rank.PATCH:
            first = wanted[0]
            reasons = "; ".join(dict.fromkeys(p.finding.reason for p in wanted))
            first.finding.action = "report"
            first.finding.reason = (f"{reasons}; not patched: the same place also decides "
                                    f"{winner.finding.reason}")
            first.edits = []
            for other in wanted[1:]:
                first.groups |= other.groups
            chosen[key] = first
    return [chosen[k] for k in order]



def guard_templates(tree: Tree, proposals: list[Proposal]) -> None:
    """Refuse edits that touch template syntax or sit inside a template conditional."""
    for proposal in proposals:
        finding = proposal.finding
        if finding.file not in tree.texts:
            continue
        template = tree.template(finding.file)
        if template is None:
            continue
        spans = [(e.start, e.end) for e in proposal.edits]
        if proposal.span:
            spans.append(proposal.span)
        for start, end in spans:
            if template.touches(start, end):
                expression = template.expression_at(start, end, tree.texts[finding.file])
                if expression:
                    finding.current = expression
                    why = f"templated value {expression}: set where the template variable is defined"
                else:
                    why = "inside a template conditional block: the rendered result is not certain"
                _refuse(proposal, why)
                if finding.setting == "worker_class" and _in_deployment(proposal):
                    proposal.held = True  # it may still run gevent: no CONN_MAX_AGE raise
                break


def _in_deployment(proposal: Proposal) -> bool:
    return any(g and g[0] == "deployment" for g in proposal.groups)


def _refuse(proposal: Proposal, why: str) -> None:
    finding = proposal.finding
    if finding.action == "patch" or proposal.edits:
        finding.action = "report"
        finding.reason = f"{finding.reason}; not patched: {why}"
    proposal.edits = []


def apply(tree: Tree, proposals: list[Proposal], creatable: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, str]]:
    """Patched texts per file, and the files whose edits could not be applied (with why);
    `creatable`: files not in the tree that a patch may create (their text is "")."""
    by_file: dict[str, list[Edit]] = defaultdict(list)
    for proposal in proposals:
        by_file[proposal.finding.file].extend(proposal.edits)
    patched, failed = {}, {}
    for path, edits in by_file.items():
        original = tree.texts.get(path, "" if path in creatable else None)
        if original is None:
            failed[path] = "not a file in the tree"
            continue
        if vendor_unit_file(path):
            failed[path] = "a vendor unit (a package upgrade overwrites it): never edited"
            continue
        try:
            new = apply_edits(original, edits)
        except EditConflict as exc:
            failed[path] = str(exc)
            continue
        templated = path in tree.texts and tree.template(path) is not None
        problem = validate.check(path, kind_of_patched(tree, path, new), new, templated=templated)
        if problem:
            failed[path] = f"the patched file does not parse ({problem})"
            continue
        if new != original:
            patched[path] = new
    return patched, failed


def kind_of_patched(tree: Tree, path: str, text: str) -> Optional[str]:
    """The kind of a patched file: the tree's, or by name and text for one a patch creates."""
    return tree.kinds[path] if path in tree.kinds else (None if path in tree.texts else kind_of(path, text))


def plan(files: Union[Tree, Mapping[str, Union[str, bytes]]], target: Target,
         hints: Hints) -> tuple[Tree, list[Proposal], Built]:
    tree = files if isinstance(files, Tree) else Tree(files, hints.systemd_unit, hints.compose_project)
    planned = Plan(tree, target, hints).build()
    proposals = merge(planned.proposals)
    guard_templates(tree, proposals)
    return tree, proposals, planned.built


@dataclass
class Restarted:
    """What the restarted process will run when a patch changes its manager's file."""
    hints: Hints  # with the patched command line, when the live one is written in a patched file
    env: dict[str, str]  # variables a patched manager file gives a new value


def restarted(before: Tree, built: Built, after: Tree, patched: dict[str, str], hints: Hints) -> Restarted:
    """The restarted process's view: when the live command line is written in a file the patch
    changes (a supervisor `command=`, a compose `command:`), the restart runs the patched line, not
    the one `ps` shows now; a patched `environment=`/`environment:`/`Environment=` gives it new values."""
    def value(tree: Tree, e: EnvSetting) -> str:  # what compose passes for `KEY: ${VAR:-d}`
        by_file: dict[str, dict[str, str]] = defaultdict(dict)
        for d in tree.located.env:
            by_file[d.file][d.name] = d.text
        return resolved(e.kind, e.file, e.text, dotenv_values(by_file, dotenv_files(e.file, hints.compose_project)))

    def touched(e: EnvSetting) -> bool:  # its file, or an env file it interpolates from, is patched
        return e.file in patched or (e.kind == "compose" and bool(set(dotenv_files(e.file, hints.compose_project))
                                                                  & set(patched)))

    old_env = {(e.file, e.name): value(before, e) for e in before.located.env if touched(e)}
    # a value the patch changed, or added (the manager's own override of a variable nothing set)
    env = {e.name: value(after, e) for e in after.located.env
           if touched(e) and old_env.get((e.file, e.name)) != value(after, e)}
    hints = _restarted_hints(before, built, after, patched, hints)
    if env:  # e.g. GUNICORN_CMD_ARGS: the re-audit must read the restarted value, not the live one
        hints = replace(hints, env={**hints.env, **env})
    return Restarted(hints, env)


def _restarted_hints(before: Tree, built: Built, after: Tree, patched: dict[str, str], hints: Hints) -> Hints:
    if not hints.command:
        return hints
    live = [d for d in built.deployments if (d.file in patched or set(d.inputs) & set(patched)) and d.offset is not None]
    if len(live) != 1:
        return hints
    old = [inv.offset for inv in before.located.invocations if inv.file == live[0].file]
    new = [inv for inv in after.located.invocations if inv.file == live[0].file]
    if len(old) != len(new) or live[0].offset not in old:
        return hints
    inv = new[old.index(live[0].offset)]
    words = ([inv.exe.value] if inv.exe is not None else ["gunicorn"]) + [w.value for w in inv.args.words]
    return replace(hints, command=shlex.join(words))


def verify(tree: Tree, built: Built, patched: dict[str, str], target: Target, hints: Hints,
           before: list[Proposal]) -> tuple[set[str], Restarted]:
    """Re-audit the patched tree as the restarted process will run it. A patched file that still
    needs a patch, or any new report, means the rewrite did not do what was planned: the patched
    files to revert, and the restarted view the re-audit used."""
    after_tree = Tree({**tree.texts, **patched}, hints.systemd_unit, hints.compose_project)
    view = restarted(tree, built, after_tree, patched, hints)
    _, after, _ = plan(after_tree, target, view.hints)
    bad = {p.finding.file for p in after if p.finding.action == "patch"} & set(patched)
    counts: dict[tuple, int] = defaultdict(int)
    for p in before:
        if p.finding.action == "report":
            counts[(p.finding.file, p.finding.setting)] += 1
    for p in after:
        if p.finding.action == "report":
            counts[(p.finding.file, p.finding.setting)] -= 1
    grown = {file for (file, _), delta in counts.items() if delta < 0}
    bad |= grown & set(patched)
    if grown - set(patched):
        bad |= set(patched)
    return bad, view


def refuse_related(active: list[Proposal], failed: dict[str, str], refused: dict[int, str]) -> None:
    """Refuse the patches in failed files and every patch of the same deployment or settings
    module, so a worker switch never lands without its thread count (no half-patch)."""
    groups = set()
    for proposal in active:
        if proposal.finding.file in failed:
            groups |= proposal.groups
    for proposal in active:
        file = proposal.finding.file
        if file in failed:
            refused[id(proposal)] = failed[file]
        elif proposal.groups & groups:
            culprit = next(f for f in failed if any(
                p.finding.file == f and p.groups & proposal.groups for p in active))
            refused[id(proposal)] = f"a related change in {culprit} failed ({failed[culprit]})"


def _pair_halves(proposals: list[Proposal], target: Target, refused: dict[int, str], live: bool) -> None:
    """Where the worker may still run gevent, refuse the CONN_MAX_AGE raise; where only the
    worker half lands, keep it and say where the settings half goes (one finding, once)."""
    finding, refuse, why = pair(proposals, target, lambda p: id(p) not in refused, live)
    for proposal in refuse:
        refused.setdefault(id(proposal), why)
    if finding is None or any(p.finding.code == finding.code for p in proposals):
        return
    extra = Proposal(finding, [], finding.key())
    extra.rank = Rank.REPORT
    proposals.append(extra)


def feeds_process(tree: Tree, project: Optional[ComposeProject]) -> Callable[[EnvSetting], bool]:
    """Whether an env setting reaches the live process's environment. Under a live compose project
    an env file does only when a service names it in `env_file:`: the project's `.env` only feeds
    `${VAR}` in the compose files (planned through them), and any other `.env` is not read at all.
    Without a project (a checkout, another manager) every env file counts."""
    if project is None:
        return lambda env: True
    named = {tree.paths.match(ref, [""], [""]).path for refs in tree.located.env_files.values() for ref in refs}
    return lambda env: env.kind != "env-file" or env.file in named


def image_env_replaced(tree: Tree, env: EnvSetting) -> bool:
    """A Dockerfile ENV that a compose service built from that Dockerfile sets again (its
    `environment:` or `env_file:`): the container runs the service's value, the image's is dead."""
    located = tree.located
    services = [unit for unit, dockerfile in located.builds.items() if env.kind == "dockerfile" and dockerfile == env.file]
    for unit in services:
        files = {tree.paths.match(ref, [""], [""]).path for ref in located.env_files.get(unit, [])}
        if any(other.name == env.name and (other.unit == unit or (other.unit is None and other.file in files))
               for other in located.env):
            return True
    return False


def audit_files(files: Mapping[str, Union[str, bytes]], target: Target, hints: Optional[Hints] = None) -> AuditResult:
    """Find, plan and (in memory) patch every gunicorn and DATABASES source in a tree.

    Never raises on file contents: an unexpected error becomes one finding, nothing patched."""
    try:
        return _audit_files(files, target, hints)
    except Exception as exc:
        return AuditResult([Finding("<tree>", None, "worker_class", None, None, "report",
                                    f"audit failed ({_crash(exc)}); nothing patched")], {}, "")


def _audit_files(files: Mapping[str, str], target: Target, hints: Optional[Hints] = None) -> AuditResult:
    hints = hints or Hints()
    tree, proposals, built = plan(files, target, hints)
    refused: dict[int, str] = {}
    patched: dict[str, str] = {}
    view: Optional[Restarted] = None
    _pair_halves(proposals, target, refused, bool(hints.command))
    creatable = frozenset([hints.env_override.create] if hints.env_override and hints.env_override.create else [])
    for _ in range(MAX_VERIFY_ROUNDS):
        active = [p for p in proposals if p.finding.action == "patch" and id(p) not in refused]
        patched, failed = apply(tree, active, creatable)
        if not failed and patched:
            bad, view = verify(tree, built, patched, target, hints, proposals)
            failed = {path: "re-auditing the patched file did not show the target values"
                      for path in bad}
        if not failed:
            break
        refuse_related(active, failed, refused)
        _pair_halves(proposals, target, refused, bool(hints.command))
    else:
        for proposal in proposals:
            if proposal.finding.action == "patch":
                refused.setdefault(id(proposal), "the patches did not verify")
        patched = {}
    for proposal in proposals:
        if id(proposal) in refused:
            _refuse(proposal, refused[id(proposal)])
    if not any(p.finding.setting == "worker_class" and p.finding.action == "patch" for p in proposals):
        proposals = [p for p in proposals if p.finding.code != FindingCode.GEVENT_CODE]
    findings = [p.finding for p in proposals]
    findings.sort(key=lambda f: (f.file == LIVE_COMMAND, f.file, f.line or 0, f.setting))
    diff = "".join(unified_diff(path, tree.texts.get(path, ""), patched[path]) for path in sorted(patched))
    result = AuditResult(findings, patched, diff, {path: kind_of_patched(tree, path, patched[path]) for path in patched},
                         {path for path in patched if path in tree.texts and tree.template(path) is not None})
    result.created = {path for path in patched if path not in tree.texts}
    result.skipped["binary"] = tree.skipped_binary
    if patched and view is not None:  # the last round's view is the patch that stands
        result.restarted_command = view.hints.command if view.hints.command != hints.command else None
        result.restarted_env = view.env
    return result
