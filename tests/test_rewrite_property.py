"""Property: a rewrite either refuses, or yields a file that compiles and whose meaning changes
only in the targeted settings (gunicorn worker settings, DATABASES persistence keys)."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery import audit_files  # noqa: E402
from remediation.model import Target  # noqa: E402

TARGET = Target()
WORKER_SETTINGS = {"worker_class": "gthread", "workers": 2, "threads": 8, "worker_connections": 1000}
PROPERTY = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

comments = st.sampled_from([
    "# worker_class = 'gevent'",
    "#workers = 9",
    "# CONN_MAX_AGE = 0  (old)",
    "# plain comment",
])
quote = st.sampled_from(["'", '"'])


@st.composite
def gunicorn_value(draw, setting: str) -> str:
    if setting == "worker_class":
        q = draw(quote)
        name = draw(st.sampled_from(["gevent", "eventlet", "sync", "gthread"]))
        return draw(st.sampled_from([
            f"{q}{name}{q}",
            f'os.environ.get("HYP_CLASS", {q}{name}{q})',
            f'os.getenv("HYP_CLASS") or {q}{name}{q}',
        ]))
    number = draw(st.integers(min_value=1, max_value=64))
    return draw(st.sampled_from([
        str(number),
        f'int(os.getenv("HYP_{setting.upper()}", {number}))',
        f'int(os.environ.get("HYP_{setting.upper()}", "{number}"))',
        "multiprocessing.cpu_count() * 2 + 1",
    ]))


@st.composite
def gunicorn_config(draw) -> str:
    lines = ["import multiprocessing", "import os", ""]
    for _ in range(draw(st.integers(min_value=1, max_value=7))):
        kind = draw(st.sampled_from(["setting", "setting", "other", "comment", "branch"]))
        if kind == "setting":
            setting = draw(st.sampled_from(sorted(WORKER_SETTINGS)))
            trailer = draw(st.sampled_from(["", "  # tuned"]))
            lines.append(f"{setting} = {draw(gunicorn_value(setting))}{trailer}")
        elif kind == "other":
            lines.append(draw(st.sampled_from(['bind = "0.0.0.0:8000"', "timeout = 30",
                                               "loglevel = 'info'", "preload_app = False"])))
        elif kind == "comment":
            lines.append(draw(comments))
        else:
            setting = draw(st.sampled_from(sorted(WORKER_SETTINGS)))
            lines.append('if os.getenv("HYP_DEBUG"):')
            lines.append(f"    {setting} = {draw(gunicorn_value(setting))}")
    return "\n".join(lines) + "\n"


def run(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__") and k not in ("os", "multiprocessing")}


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


@PROPERTY
@given(gunicorn_config())
def test_gunicorn_config_rewrite_keeps_meaning(text: str) -> None:
    result = audit_files({"gunicorn.conf.py": text}, TARGET)
    new = result.patched.get("gunicorn.conf.py")
    if new is None:
        return  # refused or nothing to do
    before, after = run(text), run(new)
    assert comment_lines(text) == comment_lines(new)
    for key in set(before) | set(after):
        if key in WORKER_SETTINGS:
            assert after.get(key) in (before.get(key), WORKER_SETTINGS[key]), (key, new)
        else:
            assert before.get(key) == after.get(key), (key, new)
    if after.get("worker_class") == "gthread" and before.get("worker_class") != "gthread":
        assert after.get("threads") == WORKER_SETTINGS["threads"], new  # no half switch
    assert not audit_files({"gunicorn.conf.py": new}, TARGET).patched  # idempotent


@st.composite
def db_value(draw, key: str) -> str:
    if key == "CONN_HEALTH_CHECKS":
        return draw(st.sampled_from(["True", "False", 'os.getenv("HYP_HC", "0") == "1"']))
    number = draw(st.sampled_from([0, 60, 600, 3600]))
    return draw(st.sampled_from([
        str(number), "None", "DB_AGE",
        f'int(os.environ.get("HYP_AGE", {number}))',
    ]))


@st.composite
def alias_dict(draw, name: str) -> str:
    entries = ['"ENGINE": "django.db.backends.postgresql"', f'"NAME": "{name}"']
    for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if draw(st.booleans()):
            entries.append(f'"{key}": {draw(db_value(key))}')
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        entries.append('"OPTIONS": {"pool": True}')
    draw(st.randoms()).shuffle(entries)
    if draw(st.booleans()):
        body = ",\n        ".join(entries)
        return "{\n        " + body + ",  # " + name + "\n    }"
    return "{" + ", ".join(entries) + "}"


@st.composite
def settings_module(draw) -> str:
    aliases = draw(st.lists(st.sampled_from(["default", "replica", "reports"]), min_size=1,
                            max_size=3, unique=True))
    lines = ["import os", "", f"DB_AGE = {draw(st.sampled_from(['0', '60', 'None']))}", ""]
    lines.append("DATABASES = {")
    for alias in aliases:
        lines.append(f'    "{alias}": {draw(alias_dict(alias))},')
        if draw(st.booleans()):
            lines.append(draw(comments).replace("#", "    #", 1))
    lines.append("}")
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        alias = draw(st.sampled_from(aliases))
        key = draw(st.sampled_from(["CONN_MAX_AGE", "CONN_HEALTH_CHECKS"]))
        lines.append(draw(st.sampled_from([
            f'DATABASES["{alias}"]["{key}"] = {draw(db_value(key))}',
            f'DATABASES["{alias}"].update({{"{key}": {draw(db_value(key))}}})',
        ])))
    return "\n".join(lines) + "\n"


def has_pool(conf: dict) -> bool:
    return bool(conf.get("OPTIONS", {}).get("pool"))


@PROPERTY
@given(settings_module())
def test_settings_rewrite_keeps_meaning(text: str) -> None:
    result = audit_files({"settings.py": text}, TARGET)
    new = result.patched.get("settings.py")
    if new is None:
        return
    before, after = run(text), run(new)
    assert comment_lines(text) == comment_lines(new)
    assert set(before) == set(after)
    for name in before:
        if name not in ("DATABASES", "DB_AGE"):
            assert before[name] == after[name]
    old_dbs, new_dbs = before["DATABASES"], after["DATABASES"]
    assert set(old_dbs) == set(new_dbs)
    reports = [f for f in result.findings if f.action == "report"]
    for alias, old in old_dbs.items():
        new_conf = new_dbs[alias]
        for key in set(old) | set(new_conf):
            if key not in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
                assert old.get(key) == new_conf.get(key), (alias, key, new)
        if has_pool(old):
            assert new_conf.get("CONN_MAX_AGE") == old.get("CONN_MAX_AGE"), new  # never on a pool
            continue
        age_reported = any(f"['{alias}']['CONN_MAX_AGE']" in f.reason for f in reports)
        if not age_reported:
            assert new_conf.get("CONN_MAX_AGE") == TARGET.conn_max_age, new  # no half-patch
        else:
            assert new_conf.get("CONN_MAX_AGE") in (old.get("CONN_MAX_AGE"), TARGET.conn_max_age)
        checks_reported = any(f"['{alias}']['CONN_HEALTH_CHECKS']" in f.reason for f in reports)
        if not checks_reported:
            assert new_conf.get("CONN_HEALTH_CHECKS") is True, new
    assert not audit_files({"settings.py": new}, TARGET).patched  # idempotent
