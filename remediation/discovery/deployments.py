"""Build gunicorn deployments: each command line with the env and config file it really gets."""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from remediation.discovery.decides import decided_by
from remediation.discovery.cmdline import CANONICAL_FLAG, GunicornArgs, config_reference, parse_args, split_cmd_args
from remediation.discovery.gunicorn_py import ConfigAnalysis, analyze_config, setting_values
from remediation.discovery.model import GUNICORN_SETTINGS, LIVE_COMMAND, LIVE_ENV, Edit, Hints
from remediation.discovery.paths import Match
from remediation.discovery.places import Adder, Layer, Place, args_layer, env_default_place, env_place, literal_place
from remediation.discovery.precedence import Deployment
from remediation.discovery.pyedit import append_statement, insert_after_statement, python_literal
from remediation.discovery.pyeval import Const, EnvGet, Evaluator, Unknown
from remediation.discovery.pyparse import ParsedPy
from remediation.discovery.sources.base import EnvSetting, Invocation, find_in_words
from remediation.discovery.tree import Tree
from remediation.discovery.words import Mapped, is_plain, split_words

CONFIG_NAME_PREFIX = "gunicorn"
LOOSE = 99  # rank of an env source that may or may not reach the command
DEFAULT_CONFIG = "gunicorn.conf.py"


@dataclass
class Built:
    deployments: list[Deployment] = field(default_factory=list)
    not_live: list[Invocation] = field(default_factory=list)
    configs: dict[str, ConfigAnalysis] = field(default_factory=dict)
    config_errors: dict[str, str] = field(default_factory=dict)
    settings_pointers: list[tuple[str, str, Optional[int]]] = field(default_factory=list)
    not_gunicorn: Optional[str] = None  # the live command, when it is not gunicorn
    replaced: dict[int, str] = field(default_factory=dict)  # id(not-live Dockerfile command) -> the service's label


class DeploymentBuilder:
    def __init__(self, tree: Tree, hints: Hints) -> None:
        self.tree = tree
        self.hints = hints
        self.located = tree.located
        self.built = Built()
        self.used_configs: set[str] = set()
        self.used_env: set[int] = set()
        self.live_args: Optional[GunicornArgs] = None  # the live process's own arguments (hints.command)
        self.units_with_invocations = {inv.unit for inv in self.located.invocations}
        self.env_by_file_unit: dict[str, list[str]] = {}
        for unit, refs in self.located.env_files.items():
            for ref in refs:
                match = tree.paths.match(ref, [""], [""])
                if match.path:
                    self.env_by_file_unit.setdefault(match.path, []).append(unit)

    # -- entry point -----------------------------------------------------------------------
    def build(self) -> Built:
        invocations = self.located.invocations
        live = invocations
        hint_args = self._hint_args()
        self.live_args = hint_args
        if hint_args is not None:
            live = [inv for inv in invocations if _matches(inv.args, hint_args) or (
                inv.raw_args is not None and _matches(inv.raw_args, hint_args, open_ended=True))]
            self.built.not_live = [inv for inv in invocations if inv not in live]
        elif self.hints.command:
            # The live process is not gunicorn: nothing in the tree is what runs.
            self.built.not_live = list(invocations)
            self.built.not_gunicorn = self.hints.command
            return self.built
        live = self._image_commands_replaced(live)
        for inv in live:
            self.built.deployments.append(self._deployment(inv, hint_args is not None))
        if hint_args is not None and not live:
            self.built.deployments.append(self._hint_deployment(hint_args))
        self._orphans(hint_args is not None)
        for dep in self.built.deployments:
            for layer in dep.layers:
                for places in layer.places.values():
                    for place in places:
                        self._templated(place)
                for place, _ in layer.dead:
                    self._templated(place)
        return self.built

    def _image_commands_replaced(self, live: list[Invocation]) -> list[Invocation]:
        """A compose service's own gunicorn command replaces the CMD/ENTRYPOINT of the image its
        `build:` makes: that Dockerfile's command is not what runs (and is never patched for it)."""
        builds = self.located.builds
        replaced = {builds[inv.unit]: inv.label or inv.unit for inv in live if inv.kind == "compose" and inv.unit in builds}
        gone = [inv for inv in live if inv.kind == "dockerfile" and inv.file in replaced]
        self.built.not_live += gone
        self.built.replaced.update({id(inv): replaced[inv.file] for inv in gone})
        return [inv for inv in live if inv not in gone]

    def _templated(self, place: Place) -> None:
        """Template syntax decides this value, or a template conditional may drop it."""
        template = self.tree.template(place.file) if place.file in self.tree.texts else None
        if template is None or place.span is None:
            return
        expression = template.expression_at(place.span[0], place.span[1], self.tree.texts[place.file])
        if expression:
            place.value, place.setter, place.current = None, None, expression
            place.fixed = f"it is the templated value {expression}: set it where the variable is defined"
        elif template.touches(*place.span):
            place.certain = False

    def _hint_args(self) -> Optional[GunicornArgs]:
        if not self.hints.command:
            return None
        words = split_words(Mapped(self.hints.command, range(len(self.hints.command)), len(self.hints.command)))
        found = find_in_words(words)
        if not found or found[0].lookalike:
            return None
        return parse_args(found[0].words[found[0].exe_index + 1 :])

    # -- one deployment --------------------------------------------------------------------
    def _deployment(self, inv: Invocation, live_known: bool) -> Deployment:
        label = inv.label or inv.kind
        cli = args_layer(inv.args, inv.file, "cli", f"command line ({label})", True,
                         self._cli_adder(inv), self._expansion_problem(inv) if live_known else None)
        cli.add_file, cli.add_offset = inv.file, inv.offset
        if inv.args.passthrough:
            for places in cli.places.values():
                for place in places:
                    extra = 'arguments passed at run time through "$@" would override it'
                    place.note = f"{place.note}; {extra}" if place.note else extra
        layers = [cli]
        cmd_layers = self._env_layers(inv, "GUNICORN_CMD_ARGS", live_known)
        layers += cmd_layers
        config = self._config_layer(inv, cmd_layers, live_known)
        dep = Deployment(label, inv.file, inv.offset, layers, inputs=inv.inputs)
        if config is not None:
            layers.append(config)
            analysis = self.built.configs.get(config.add_file or "")
            if analysis is not None:
                dep.blockers += analysis.patch_all
                dep.gevent_code += [(analysis.parsed.path, line, what) for line, what in analysis.gevent_code]
        layers += self._env_layers(inv, "WEB_CONCURRENCY", live_known)
        for key, value in inv.args.env_pairs().items():
            if key == "DJANGO_SETTINGS_MODULE":
                self.built.settings_pointers.append((value, inv.file, inv.offset))
        return dep

    def _expansion_problem(self, inv: Invocation) -> Optional[str]:
        """Why the words the manager expanded into this command line cannot be trusted, None when
        they are what the live process runs (/proc/PID/cmdline is the manager's expansion)."""
        if inv.raw_args is None or self.live_args is None:
            return None
        if inv.unresolved:
            return (f"the command line is only partly known ({inv.unresolved[0]}), so its expanded "
                    "words cannot be checked against the live process")
        mine = [w.value for w in inv.args.words]
        live = [w.value for w in self.live_args.words]
        if mine == live:
            return None
        return (f"its variables expand to `{shlex.join(mine)}` (from {', '.join(inv.inputs)}), but the live "
                f"process runs `{shlex.join(live)}`: not traced, so not changed")

    def _hint_deployment(self, args: GunicornArgs) -> Deployment:
        fixed = "it is on the live command line and no file in the tree produces that command"
        cli = args_layer(args, LIVE_COMMAND, "cli", "live command line", True, None, fixed)
        layers = [cli]
        fake = Invocation(LIVE_COMMAND, "live", "live", args.words[0] if args.words else None, args, None)
        cmd_layers = self._env_layers(fake, "GUNICORN_CMD_ARGS", True)
        layers += cmd_layers
        config = self._config_layer(fake, cmd_layers, True)
        if config is not None:
            layers.append(config)
        layers += self._env_layers(fake, "WEB_CONCURRENCY", True)
        return Deployment("live command line", LIVE_COMMAND, None, layers)

    def _cli_adder(self, inv: Invocation) -> Adder:
        def adder(setting: str, value: str) -> Optional[list[Edit]]:
            anchor = None
            for name in ("worker_class", "workers", "threads", "worker_connections"):
                occ = inv.args.last(name)
                if occ is not None:
                    anchor = inv.args.words[occ.value_index]
                    break
            flag = CANONICAL_FLAG[setting]
            eq_style = any("=" in inv.args.words[o.flag_index].value
                           for occs in inv.args.occurrences.values() for o in occs)
            words = [f"{flag}={value}"] if eq_style else [flag, value]
            return inv.insert(anchor, words)

        return adder

    # -- environment -----------------------------------------------------------------------
    def _association(self, inv: Invocation, env: EnvSetting) -> Optional[int]:
        """How surely `env` is in this command's environment: a precedence rank (lower wins)
        for sources that certainly apply, LOOSE for maybe, None if it does not apply."""
        if env in inv.inline_env.values():
            return 0
        units = self.env_by_file_unit.get(env.file)
        if units is not None and env.unit is None:
            if inv.unit in units:
                return 1 if inv.kind == "systemd" else 3  # EnvironmentFile= beats Environment=
            # Loaded by a service whose command we could not follow (e.g. `command: /start`):
            # it may well be this command's environment.
            return None if set(units) & self.units_with_invocations else LOOSE
        if env.unit is not None and env.unit == inv.unit:
            return 2
        if env.unit is not None and env.unit.endswith("#") and inv.unit.startswith(env.unit):
            return 4
        if env.kind == "dockerfile" and env.unit is not None and env.unit == self.located.builds.get(inv.unit):
            return 5  # the image's ENV: under the service's environment: and env_file:
        if env.unit is None:
            return LOOSE
        return None

    def _env_layers(self, inv: Invocation, name: str, live_known: bool) -> list[Layer]:
        """The one value of an environment variable this command gets, plus the ones it hides.

        An environment variable has a single value: the highest-ranked certain source wins and
        the others are dead; sources that only may apply (a loose env file) stay live when no
        certain source exists.
        """
        ranked = []
        for env in list(inv.inline_env.values()) + self.located.env:
            if env.name != name:
                continue
            rank = self._association(inv, env)
            if rank is not None:
                self.used_env.add(id(env))
                ranked.append((rank, -env.offset, env))
        ranked.sort(key=lambda item: (item[0], item[1]))
        live_value = self.hints.env.get(name)
        applies = live_known or not self.hints.command
        layers: list[Layer] = []
        winner: Optional[EnvSetting] = None
        if live_value is not None and applies:
            same = [env for _, _, env in ranked if env.text == live_value]
            if same:
                winner = same[0]
                layers.append(self._env_layer(winner, True))
            else:
                layers.append(self._live_env_layer(name, live_value))
        elif ranked and ranked[0][0] != LOOSE:
            winner = ranked[0][2]
            layers.append(self._env_layer(winner, True))
        hidden_by = layers[0].label if layers else None
        for _rank, _, env in ranked:
            if env is winner:
                continue
            if hidden_by is None:
                layers.append(self._env_layer(env, False))
                continue
            dead = self._env_layer(env, False)
            for places in dead.places.values():
                for place in places:
                    layers[0].dead.append((place, f"the {hidden_by} replaces this value"))
        return layers

    def _env_layer(self, env: EnvSetting, certain: bool) -> Layer:
        if env.name == "GUNICORN_CMD_ARGS":
            return self._cmd_args_layer(env, certain)
        return self._web_concurrency_layer(env, certain)

    def _live_env_layer(self, name: str, value: str) -> Layer:
        fixed = "it is set in the live process environment and no file in the tree sets it"
        if name == "GUNICORN_CMD_ARGS":
            args = split_cmd_args(Mapped(value, range(len(value)), len(value)))
            return args_layer(args, LIVE_ENV, "cmd_args", "GUNICORN_CMD_ARGS (live)", True, None, fixed)
        layer = Layer("env", "WEB_CONCURRENCY (live)", True)
        layer.add(Place("workers", LIVE_ENV, None, "env", value, value, None, fixed,
                        label="WEB_CONCURRENCY (live)"))
        return layer

    def _cmd_args_layer(self, env: EnvSetting, certain: bool) -> Layer:
        args = split_cmd_args(env.value)
        fixed = "it is expanded at run time" if env.expands else None
        label = f"GUNICORN_CMD_ARGS in {env.file}"
        layer = args_layer(args, env.file, "cmd_args", label, certain, self._append_adder(env), fixed)
        layer.add_file, layer.add_offset = env.file, env.offset
        layer.args = args
        return layer

    @staticmethod
    def _append_adder(env: EnvSetting) -> Adder:
        def adder(setting: str, value: str) -> Optional[list[Edit]]:
            text = env.value.text
            span = env.value.span(len(text) - 1, len(text)) if text else None
            if span is None or env.expands:
                return None
            return [Edit(span[1], span[1], f" {CANONICAL_FLAG[setting]} {value}")]

        return adder

    def _web_concurrency_layer(self, env: EnvSetting, certain: bool) -> Layer:
        layer = Layer("env", f"WEB_CONCURRENCY in {env.file}", certain)
        layer.add(env_place(env, "workers", "env", certain))
        return layer

    # -- config file -----------------------------------------------------------------------
    def _config_layer(self, inv: Invocation, cmd_layers: list[Layer], live_known: bool) -> Optional[Layer]:
        occ = inv.args.last("config")
        args = inv.args
        if occ is None:
            # gunicorn honours -c inside GUNICORN_CMD_ARGS when the command line has none
            for layer in cmd_layers:
                if layer.certain and layer.args is not None and layer.args.last("config"):
                    args, occ = layer.args, layer.args.last("config")
                    break
        cwd = self.tree.paths.directory(self.hints.cwd if inv.file == LIVE_COMMAND else inv.cwd)
        here = posixpath.dirname(inv.file) if inv.file != LIVE_COMMAND else ""
        bases = [b for b in (cwd, here, "") if b is not None]
        if self.hints.config_path and (live_known or inv.file == LIVE_COMMAND or not self.hints.command):
            match = self.tree.paths.match(self.hints.config_path, [""], [""])
            written, certain = self.hints.config_path, True
        elif occ is not None:
            word = args.words[occ.value_index]
            kind, written = config_reference(occ.value)
            template = self.tree.template(inv.file) if inv.file in self.tree.texts else None
            if template is not None and template.touches(word.raw_start, word.raw_end):
                shown = self.tree.texts[inv.file][word.raw_start:word.raw_end]
                return Layer("config", f"config file {shown}",
                             unknown=f"the config path {shown} is templated")
            if word.expands and "%(here)s" not in written:
                return Layer("config", f"config file {written}", unknown=f"the config path {written} is expanded at run "
                             f"time{decided_by(self.tree.texts, written)}")
            written = written.replace("%(here)s", "/" + here if here else "")
            if kind == "python":
                match = Match(self.tree.modules.find(written), True, f"module {written} is not in the tree")
            else:
                match = self.tree.paths.match(written, bases, [here, cwd or "", ""])
            certain = match.certain
        else:
            default_dir = [cwd] if cwd is not None else [here, ""]
            match = None
            for base in default_dir:
                candidate = posixpath.join(base, DEFAULT_CONFIG) if base else DEFAULT_CONFIG
                if candidate in self.tree.texts:
                    match = Match(candidate, cwd is not None)
                    break
            if match is None:
                return None
            written, certain = DEFAULT_CONFIG, match.certain
        if match.path is None:
            return Layer("config", f"config file {written}", unknown=f"the config file {written} "
                         f"is not in the tree ({match.reason})")
        return self.config_layer(match.path, certain)

    def config_layer(self, path: str, certain: bool) -> Layer:
        analysis = self.analysis(path)
        label = f"config file {path}"
        if analysis is None:
            return Layer("config", label, unknown=f"{path} cannot be read: {self.built.config_errors.get(path)}")
        if analysis.problem:
            return Layer("config", label, unknown=f"{path}: {analysis.problem}")
        self.used_configs.add(path)
        layer = Layer("config", label, certain, adder=self._config_adder(analysis))
        layer.add_file = path
        layer.add_offset = self._anchor_offset(analysis)
        for setting in GUNICORN_SETTINGS:
            values, always = setting_values(analysis, setting)
            for value in values:
                for place, live in self.value_places(value, setting, path):
                    if live:
                        layer.add(place, always)
                    else:
                        layer.dead.append((place, "the live environment variable wins over this default"))
        return layer

    def analysis(self, path: str) -> Optional[ConfigAnalysis]:
        if path in self.built.configs:
            return self.built.configs[path]
        if path in self.built.config_errors:
            return None
        parsed = self.tree.parsed(path)
        if not isinstance(parsed, ParsedPy):
            self.built.config_errors[path] = parsed
            return None
        evaluator = Evaluator(self.tree.load_module, watch=GUNICORN_SETTINGS)
        analysis = analyze_config(parsed, evaluator)
        self.built.configs[path] = analysis
        if not self.tree.kinds.get(path, "").startswith("python"):
            self.tree.kinds[path] = "python"  # gunicorn execs its config file, whatever its name
        for entry in analysis.raw_env():
            key, _, value = entry.partition("=")
            if key == "DJANGO_SETTINGS_MODULE":
                self.built.settings_pointers.append((value, path, None))
        return analysis

    def value_places(self, value, setting: str, config: str) -> list[tuple[Place, bool]]:
        """Places behind one abstract value of a config setting (literal, env default, ...)."""
        if isinstance(value, Const) and value.node is not None and value.file is not None:
            return [(literal_place(value, setting), True)]
        if isinstance(value, EnvGet):
            result = []
            live = self.hints.env.get(value.var)
            default_place = env_default_place(value, setting)
            if live is not None:
                shown = live if is_plain(live) else "(set)"
                result.append((Place(setting, LIVE_ENV, None, "config", f"${value.var}={shown}", live, None,
                                     f"${value.var} is set in the live process environment",
                                     label=f"${value.var} (live)"), True))
                result.append((default_place, False))
                return result
            sources = [(env_place(env, setting, "config", False), True)
                       for env in self.located.env if env.name == value.var]
            if self.hints.unread(value.var):  # set live: the default is dead, a file here may set it
                if not sources:
                    sources = [(Place(setting, LIVE_ENV, None, "config", f"${value.var}=(set)", None, None,
                                      f"${value.var} is set in the live process environment by no file "
                                      "the host holds (its value is not read)", label=f"${value.var} (live)"),
                                True)]
                return sources + [(default_place, False)]
            return [(default_place, True), *sources]
        why = value.why if isinstance(value, Unknown) else f"not a literal ({type(value).__name__})"
        file = value.file.path if getattr(value, "file", None) is not None else config
        node = getattr(value, "node", None)
        span = value.file.span(node) if node is not None and getattr(value, "file", None) else None
        offset = span[0] if span else None
        return [(Place(setting, file, offset, "config", why, None, None, why, label=f"{file} {setting}",
                       span=span), True)]

    def _anchor_offset(self, analysis: ConfigAnalysis) -> Optional[int]:
        stmt = self._anchor(analysis)
        return analysis.parsed.span(stmt)[0] if stmt is not None else None

    def _anchor(self, analysis: ConfigAnalysis):
        last = None
        template = self.tree.template(analysis.parsed.path)
        for state in analysis.states:
            for name in GUNICORN_SETTINGS:
                for parsed, stmt in state.touched.get(name, []):
                    if template is not None and stmt is not None and template.touches(*parsed.span(stmt)):
                        continue
                    if parsed.path == analysis.parsed.path and stmt is not None:
                        if last is None or parsed.span(stmt)[0] > parsed.span(last)[0]:
                            last = stmt
        return last

    def _config_adder(self, analysis: ConfigAnalysis) -> Adder:
        def adder(setting: str, value: str) -> Optional[list[Edit]]:
            parsed = analysis.parsed
            typed = value if setting == "worker_class" else int(value)
            code = f"{setting} = {python_literal(typed)}"
            if setting == "worker_class":
                quote = _quote_style(analysis)
                code = f"{setting} = {quote}{value}{quote}"
            stmt = self._anchor(analysis)
            if stmt is None:
                return [append_statement(parsed, code)]
            return [insert_after_statement(parsed, stmt, code)]

        return adder

    # -- config files and env without a command --------------------------------------------
    def _orphans(self, hint_given: bool) -> None:
        candidates = [p for p in self.tree.texts if _config_name(p)]
        if self.hints.config_path:
            match = self.tree.paths.match(self.hints.config_path, [""], [""])
            if match.path and match.path not in candidates:
                candidates.append(match.path)
        for path in sorted(candidates):
            if path in self.used_configs:
                continue
            if hint_given and (not self.hints.config_path or self.tree.paths.match(self.hints.config_path, [""], [""]).path != path):
                continue
            analysis = self.analysis(path)
            if analysis is None:
                if not path.endswith((".py", ".py.j2")):
                    self.built.config_errors.pop(path, None)  # e.g. an INI logging config
                continue
            if analysis.problem:
                self.built.config_errors[path] = analysis.problem
                continue
            if not analysis.is_config():
                continue
            layer = self.config_layer(path, True)
            layers = [layer]
            for env in self.located.env:
                if env.name == "GUNICORN_CMD_ARGS" and env.unit is None and id(env) not in self.used_env:
                    layers.insert(0, self._cmd_args_layer(env, False))
            dep = Deployment(f"config file {path}", path, None, layers, known_command=False)
            dep.blockers += analysis.patch_all
            dep.gevent_code += [(path, line, what) for line, what in analysis.gevent_code]
            self.built.deployments.append(dep)
        for env in self.located.env:
            if env.name in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY") and id(env) not in self.used_env and not hint_given:
                if env.name == "GUNICORN_CMD_ARGS":
                    layer = self._cmd_args_layer(env, True)
                    self.built.deployments.append(Deployment(
                        layer.label, env.file, env.offset, [layer], known_command=False))


def _matches(file_args: GunicornArgs, live: GunicornArgs, open_ended: bool = False) -> bool:
    """Could this file's command line be the live one? Expanded words match anything;
    `open_ended`: the line as written, whose variables may add any flag (`${GUNICORN_OPTS}`)."""
    for setting in ("worker_class", "workers", "threads", "worker_connections", "config"):
        mine, theirs = file_args.last(setting), live.last(setting)
        if mine is None and open_ended:
            continue
        if (mine is None) != (theirs is None):
            return False
        if mine is not None and not file_args.words[mine.value_index].expands:
            if posixpath.basename(mine.value) != posixpath.basename(theirs.value):
                return False
    if file_args.app and live.app and "$" not in file_args.app and "%(" not in file_args.app:
        return file_args.app == live.app
    return True


def _config_name(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name.startswith(CONFIG_NAME_PREFIX) and (
        name.endswith((".py", ".conf", ".ini", ".cfg", ".py.j2")) or "." not in name)


def _quote_style(analysis: ConfigAnalysis) -> str:
    for state in analysis.states:
        value = state.names.get("worker_class")
        if isinstance(value, Const) and isinstance(value.node, cst.SimpleString):
            return value.node.quote
    return '"'
