"""Real-world config shapes: one folder per case under tests/shapes/, checked by meaning.

Each case holds the files of a small tree and an `expected.yaml`:

    description: what the case is about
    target: {...}          # optional Target overrides (e.g. the sync target)
    hints: {...}           # optional Hints (live command, env, ...)
    findings:              # each entry must match at least one finding (keys given are compared;
      - {file, setting, action, current, proposed, line, reason_contains}
    absent:                # no finding may match any of these
      - {action: patch, file: config/settings/test.py}
    unchanged: [paths]     # must not be patched
    checks:                # meaning of the patched tree
      gunicorn_config: [{file, env, expect: {name: value}}]   # exec'd like gunicorn does
      settings: [{module, path, env, expect: {alias: {KEY: value}}}]  # imported in a subprocess
      command: [{file, expect: {setting: value}}]              # parsed with shlex + argparse
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery import Hints, audit_files  # noqa: E402
from remediation.discovery.model import SETTINGS  # noqa: E402
from remediation.discovery.tree import Tree  # noqa: E402
from remediation.model import Target  # noqa: E402

SHAPES = Path(__file__).parent / "shapes"
CASES = sorted(p.name for p in SHAPES.iterdir() if (p / "expected.yaml").exists())

STUBS = {
    "dj_database_url.py": '''
        import os
        def _url(name, default):
            return os.environ.get(name, default) or ""
        def parse(url, engine=None, conn_max_age=0, conn_health_checks=False, ssl_require=False, **kw):
            return {"ENGINE": engine or "django.db.backends.postgresql", "NAME": url,
                    "CONN_MAX_AGE": conn_max_age, "CONN_HEALTH_CHECKS": conn_health_checks}
        def config(env="DATABASE_URL", default=None, engine=None, conn_max_age=0,
                   conn_health_checks=False, ssl_require=False, **kw):
            return parse(_url(env, default), engine, conn_max_age, conn_health_checks)
    ''',
    "environ/__init__.py": '''
        import os
        from urllib.parse import urlparse, parse_qs
        NOTSET = object()
        class Env:
            def __init__(self, **scheme):
                self.scheme = scheme
            @staticmethod
            def read_env(*a, **k):
                pass
            def __call__(self, var, default=NOTSET, cast=None):
                value = os.environ.get(var)
                if value is None and default is NOTSET and var in self.scheme:
                    return self.scheme[var][1]
                if value is None:
                    if default is NOTSET:
                        raise KeyError(var)
                    return default
                return cast(value) if cast else value
            def str(self, var, default=NOTSET):
                return self(var, default)
            def int(self, var, default=NOTSET):
                return self(var, default, int)
            def bool(self, var, default=NOTSET):
                return self(var, default, lambda v: v.lower() in ("1", "true", "yes", "on"))
            def list(self, var, default=NOTSET):
                return self(var, default, lambda v: v.split(","))
            def db(self, var="DATABASE_URL", default=NOTSET):
                url = self(var, default)
                parsed = urlparse(url)
                config = {"ENGINE": "django.db.backends.postgresql", "NAME": parsed.path[1:]}
                for key, values in parse_qs(parsed.query).items():
                    if key.upper() in ("CONN_MAX_AGE",):
                        config[key.upper()] = int(values[0])
                    if key.upper() in ("CONN_HEALTH_CHECKS",):
                        config[key.upper()] = values[0] == "True"
                return config
            db_url = db
            def cache(self, var="CACHE_URL", default=NOTSET):
                return {"BACKEND": self(var, default)}
    ''',
    "django/__init__.py": "VERSION = (5, 1, 0)\n",
    "django/core/__init__.py": "",
    "django/core/exceptions.py": "class ImproperlyConfigured(Exception):\n    pass\n",
    "django/utils/__init__.py": "",
    "django/utils/translation.py": "def gettext_lazy(s):\n    return s\n",
    "psycogreen/__init__.py": "",
    "psycogreen/gevent.py": "def patch_psycopg():\n    pass\n",
    "environs.py": '''
        import os
        class Env:
            def read_env(self, *a, **k):
                pass
            def __call__(self, var, default=None):
                return os.environ.get(var, default)
            str = __call__
            def int(self, var, default=None):
                value = os.environ.get(var)
                return int(value) if value is not None else default
            def bool(self, var, default=False):
                value = os.environ.get(var)
                return value.lower() in ("1", "true") if value is not None else default
            def dj_db_url(self, var, default=None):
                return {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ.get(var, default)}
    ''',
    "decouple.py": '''
        import os
        def config(var, default=None, cast=None):
            value = os.environ.get(var, default)
            return cast(value) if cast and value is not None else value
    ''',
}


@pytest.fixture(scope="session")
def stubs(tmp_path_factory) -> Path:
    """Tiny stand-ins for dj_database_url, django-environ and django so settings import."""
    root = tmp_path_factory.mktemp("stubs")
    for rel, body in STUBS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip())
    return root


def load_case(name: str) -> tuple[dict[str, str], dict]:
    case = SHAPES / name
    expected = yaml.safe_load((case / "expected.yaml").read_text())
    files = {}
    for path in sorted(case.rglob("*")):
        rel = path.relative_to(case).as_posix()
        if path.is_file() and rel != "expected.yaml":
            files[rel] = path.read_text(encoding="utf-8")
    return files, expected


def matches(finding: dict, spec: dict) -> bool:
    for key, value in spec.items():
        if key == "reason_contains":
            if str(value).lower() not in finding["reason"].lower():
                return False
        elif key == "current_contains":
            if str(value) not in (finding["current"] or ""):
                return False
        elif finding.get(key) != (str(value) if key in ("current", "proposed") and value is not None else value):
            return False
    return True


def run_case(name: str):
    files, expected = load_case(name)
    target = Target(**expected.get("target", {}))
    hints = Hints(**expected["hints"]) if expected.get("hints") else None
    result = audit_files(files, target, hints)
    return files, expected, result


@pytest.mark.parametrize("name", CASES)
def test_shape(name: str, stubs: Path, tmp_path: Path) -> None:
    files, expected, result = run_case(name)
    found = [vars(f) for f in result.findings]
    listing = "\n".join(f"  {f}" for f in found)
    for spec in expected.get("findings", []):
        assert any(matches(f, spec) for f in found), f"missing finding {spec}\nactual:\n{listing}"
    for spec in expected.get("absent", []):
        hits = [f for f in found if matches(f, spec)]
        assert not hits, f"unexpected finding {hits}\nactual:\n{listing}"
    for path in expected.get("unchanged", []):
        assert path not in result.patched, f"{path} must stay untouched:\n{result.diff}"
    for path in expected.get("changed", []):
        assert path in result.patched, f"{path} must be patched:\n{listing}"
    for f in found:
        assert f["setting"] in SETTINGS and f["action"] in ("patch", "report", "ok")
    assert_only_targeted_lines_change(files, result.patched)
    tree = tmp_path / "tree"
    for rel, text in {**files, **result.patched}.items():
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    checks = expected.get("checks", {})
    for check in checks.get("gunicorn_config", []):
        values = exec_gunicorn_config(tree / check["file"], check.get("env", {}), stubs)
        for key, want in check["expect"].items():
            assert values.get(key) == want, f"{check['file']}: {key}={values.get(key)!r}, want {want!r}"
    for check in checks.get("settings", []):
        dbs = import_settings(tree / check.get("path", "."), check["module"], check.get("env", {}), stubs)
        for alias, keys in check["expect"].items():
            for key, want in keys.items():
                got = dbs[alias].get(key)
                assert got == want, f"{check['module']} {alias}.{key}={got!r}, want {want!r}"
    for check in checks.get("shell", []):
        check_shell(tree / check["file"], check)
    for check in checks.get("command", []):
        argvs = command_lines(check["file"], (tree / check["file"]).read_text())
        parsed = [parse_gunicorn(argv) for argv in argvs]
        assert parsed, f"no gunicorn command found in {check['file']}"
        for key, want in check["expect"].items():
            got = [getattr(p, key) for p in parsed]
            assert all(g == want for g in got), f"{check['file']}: {key}={got}, want {want!r}"
        # The same command lines read back with the tool's own locators and argv parser.
        ours = Tree({check["file"]: (tree / check["file"]).read_text()}).located.invocations
        assert ours, f"our locators find no gunicorn command in {check['file']}"
        for invocation in ours:
            values = invocation.args.values()
            for key, want in check["expect"].items():
                assert values.get(key) == want, f"{check['file']} (own parser): {key}={values.get(key)!r}"
    # Idempotence: auditing the patched tree proposes nothing more.
    again = audit_files({**files, **result.patched}, Target(**expected.get("target", {})),
                        Hints(**expected["hints"]) if expected.get("hints") else None)
    assert not again.patched, f"second run still patches:\n{again.diff}"


def check_shell(path: Path, check: dict) -> None:
    """A patched shell script still parses (bash -n); its top-level NAME=value lines, run by
    bash, give the expected values; the expected text is on one line as written."""
    out = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{path.name} does not parse: {out.stderr}"
    text = path.read_text()
    assignments = "\n".join(line for line in text.splitlines()
                            if line.split("=", 1)[0].isidentifier() and "=" in line)
    for name, want in check.get("expect", {}).items():
        got = subprocess.run(["bash", "-c", f'{assignments}\nprintf %s "${{{name}}}"'],
                             capture_output=True, text=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
        assert got.stdout == want, f"{path.name}: ${name}={got.stdout!r}, want {want!r}"
    for snippet in check.get("contains", []):
        assert any(snippet in line for line in text.splitlines()), f"{path.name}: no line with {snippet!r}"


def test_every_project_fixture_names_what_it_models() -> None:
    """Fixtures modelled on a public project say which project and which of its files; the
    files named are in the fixture (our own rewrite of the shape, never a copy)."""
    projects = set()
    for name in CASES:
        expected = yaml.safe_load((SHAPES / name / "expected.yaml").read_text())
        models = expected.get("models")
        if models is None:
            continue
        assert "/" in models["project"], f"{name}: project as owner/name"
        for rel in models["files"]:
            assert (SHAPES / name / rel).is_file(), f"{name}: models {rel}, which is not in the fixture"
        projects.add(models["project"])
    assert len(CASES) >= 60 and len(projects) >= 30


def assert_only_targeted_lines_change(files: dict[str, str], patched: dict[str, str]) -> None:
    """Comments and commented-out lines never change; every removed line is a setting line."""
    import difflib

    for path, new in patched.items():
        old = files[path]
        for line in difflib.ndiff(old.splitlines(), new.splitlines()):
            if line.startswith("- "):
                body = line[2:].strip()
                assert not body.startswith(("#", ";")), f"{path}: comment line changed: {body!r}"
        old_comments = [l for l in old.splitlines() if l.strip().startswith(("#", ";"))]
        new_comments = [l for l in new.splitlines() if l.strip().startswith(("#", ";"))]
        assert old_comments == new_comments, f"{path}: comment lines changed"


def exec_gunicorn_config(path: Path, env: dict, stubs: Path) -> dict:
    """Execute a config file the way gunicorn does and read its module globals."""
    code = textwrap.dedent(f"""
        import importlib.machinery, importlib.util, json, sys
        loader = importlib.machinery.SourceFileLoader("__config__", {str(path)!r})
        spec = importlib.util.spec_from_file_location("__config__", {str(path)!r}, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        keys = ("worker_class", "workers", "threads", "worker_connections")
        print(json.dumps({{k: getattr(module, k, None) for k in keys}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(stubs), **env},
                         cwd=path.parent,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def import_settings(root: Path, module: str, env: dict, stubs: Path) -> dict:
    code = textwrap.dedent(f"""
        import importlib, json
        settings = importlib.import_module({module!r})
        print(json.dumps({{alias: {{k: v for k, v in conf.items() if k in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}}
                          for alias, conf in settings.DATABASES.items()}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PATH": os.environ.get("PATH", ""),
                              "PYTHONPATH": os.pathsep.join([str(root), str(stubs)]), **env},
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def command_lines(rel: str, text: str) -> list[list[str]]:
    """gunicorn argv lists from a patched file, read with the standard parsers (not ours)."""
    name = Path(rel).name.lower()
    commands: list[list[str]] = []
    if name.endswith((".yml", ".yaml")):
        for doc in yaml.safe_load_all(text):
            commands += _yaml_commands(doc)
    elif name.endswith(".service"):
        joined = text.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.startswith("ExecStart="):
                commands.append(shlex.split(line.split("=", 1)[1].lstrip("-@+!:")))
    elif name.endswith((".conf", ".ini")):
        parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False,
                                              interpolation=None)
        parser.read_string(text)
        for section in parser.sections():
            if parser.has_option(section, "command"):
                commands.append(shlex.split(parser.get(section, "command")))
    elif name.startswith("dockerfile"):
        joined = text.replace("\\\n", "")
        for line in joined.splitlines():
            keyword, _, rest = line.strip().partition(" ")
            if keyword.upper() in ("CMD", "ENTRYPOINT"):
                rest = rest.strip()
                commands.append(json.loads(rest) if rest.startswith("[") else shlex.split(rest))
    elif name.startswith("procfile"):
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                commands.append(shlex.split(line.split(":", 1)[1]))
    else:
        joined = text.replace("\\\n", " ")
        for line in joined.splitlines():
            if "gunicorn" in line and not line.strip().startswith("#"):
                commands.append(shlex.split(line))
    return [_expand_shell(c) for c in commands if any(Path(w).name == "gunicorn" for w in _expand_shell(c))]


def _expand_shell(argv: list[str]) -> list[str]:
    for i, word in enumerate(argv):
        if word.startswith("-") and "c" in word[1:] and not word.startswith("--") and i + 1 < len(argv) \
                and i > 0 and Path(argv[i - 1]).name in ("sh", "bash"):
            return shlex.split(argv[i + 1].split("&&")[-1])
    return argv


def _yaml_commands(node) -> list[list[str]]:
    found = []
    if isinstance(node, dict):
        command = node.get("command")
        args = node.get("args")
        entry = node.get("entrypoint")
        parts = []
        for value in (entry, command, args):
            if isinstance(value, str):
                parts += shlex.split(value)
            elif isinstance(value, list):
                parts += [str(v) for v in value]
        if parts:
            found.append(parts)
        for value in node.values():
            found += _yaml_commands(value)
    elif isinstance(node, list):
        for item in node:
            found += _yaml_commands(item)
    return found


def parse_gunicorn(argv: list[str]) -> argparse.Namespace:
    """gunicorn's own flags for the settings we change, parsed by argparse like gunicorn does."""
    start = next(i for i, w in enumerate(argv) if Path(w).name == "gunicorn")
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-k", "--worker-class", dest="worker_class")
    parser.add_argument("-w", "--workers", dest="workers")
    parser.add_argument("--threads", dest="threads")
    parser.add_argument("--worker-connections", dest="worker_connections")
    parser.add_argument("-c", "--config", dest="config")
    namespace, _ = parser.parse_known_args(argv[start + 1 :])
    return namespace
