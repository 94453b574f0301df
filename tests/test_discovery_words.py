"""Unit tests: offset-keeping word splitting, gunicorn argv parsing, YAML/ini value mapping."""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery.cmdline import parse_args, value_edit  # noqa: E402
from remediation.discovery.model import Edit, EditConflict, apply_edits  # noqa: E402
from remediation.discovery.sources.base import find_in_words  # noqa: E402
from remediation.discovery.sources.ini import configparser_check, read_ini  # noqa: E402
from remediation.discovery.sources.jinja import mask  # noqa: E402
from remediation.discovery.sources.yamlscalar import scalar_mapped  # noqa: E402
from remediation.discovery.words import Mapped, param_default, split_commands, split_words  # noqa: E402


def words(text: str, **kw):
    return split_words(Mapped.region(text), **kw)


@pytest.mark.parametrize("text", [
    "gunicorn -k gevent app:app",
    "gunicorn --worker-class='gevent' -w \"4\" app",
    "a\\ b 'c d' \"e \\\" f\" g\\\\h",
    "x='' y=\"\" z",
])
def test_split_words_agrees_with_shlex(text: str) -> None:
    assert [w.value for w in words(text)] == shlex.split(text)


def test_backslash_newline_is_a_line_continuation() -> None:
    # The shell (and systemd, Docker) join continued lines; shlex would keep a "\n" word.
    text = "gunicorn \\\n  -k gevent \\\n  app"
    assert [w.value for w in words(text)] == ["gunicorn", "-k", "gevent", "app"]


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.text(alphabet="ab -=:'\"\\$", min_size=1, max_size=6), min_size=1, max_size=5))
def test_split_words_matches_shlex_on_quoted_words(parts: list[str]) -> None:
    text = " ".join(shlex.quote(p) for p in parts)
    assert [w.value for w in words(text)] == parts


def test_offsets_point_at_the_characters() -> None:
    text = "exec gunicorn --worker-class=\"gevent\" -w4 app"
    for word in words(text):
        span = word.span()
        if span is not None:
            assert text[span[0]:span[1]] == word.value


def test_shell_commands_comments_heredocs_and_operators() -> None:
    text = (
        "# gunicorn -k gevent app\n"
        "cat <<EOF > /tmp/x\n"
        "gunicorn -k eventlet inside-heredoc\n"
        "EOF\n"
        "python manage.py migrate && exec gunicorn -k gevent app 2>&1 | tee log\n"
    )
    commands = split_commands(Mapped.region(text))
    found = [f for c in commands for f in find_in_words(c)]
    assert len(found) == 1
    argv = [w.value for w in found[0].words[found[0].exe_index:]]
    assert argv == ["gunicorn", "-k", "gevent", "app"]


@pytest.mark.parametrize("command, expected", [
    ("exec gosu app newrelic-admin run-program gunicorn -k gevent app", "gevent"),
    ("/venv/bin/python -m gunicorn --worker-class=gevent app", "gevent"),
    ("bash -c 'python manage.py migrate && gunicorn -k eventlet app'", "eventlet"),
    ("sh -ec \"exec gunicorn -k gevent_pywsgi app\"", "gevent_pywsgi"),
    ("GUNICORN_CMD_ARGS='-w 3' gunicorn -kgevent app", "gevent"),
])
def test_wrappers_and_nested_shells(command: str, expected: str) -> None:
    found = [f for c in split_commands(Mapped.region(command)) for f in find_in_words(c)]
    assert len(found) == 1
    args = parse_args(found[0].words[found[0].exe_index + 1:])
    assert args.last("worker_class").value == expected


@pytest.mark.parametrize("command", [
    "pip install gunicorn gevent",
    "echo gunicorn -k gevent",
    "pkill -HUP gunicorn",
])
def test_commands_that_only_mention_gunicorn(command: str) -> None:
    assert not [f for c in split_commands(Mapped.region(command)) for f in find_in_words(c)]


def test_argparse_rules() -> None:
    args = parse_args(words("-w 2 --workers=3 --thr 4 -k gevent --preload app:app -b :8000"))
    assert args.values() == {"workers": "3", "threads": "4", "worker_class": "gevent"}
    assert args.preload and args.app == "app:app"
    ambiguous = parse_args(words("--worker 3 app"))
    assert ambiguous.problems and "ambiguous" in ambiguous.problems[0]


def test_value_edit_keeps_the_flag_form() -> None:
    text = "gunicorn --worker-class=gevent -w4 --threads '16' app"
    args = parse_args(words(text)[1:])
    edits = [value_edit(args, args.last(s), v)
             for s, v in (("worker_class", "gthread"), ("workers", "2"), ("threads", "8"))]
    new = apply_edits(text, [e for e in edits if e])
    assert new == "gunicorn --worker-class=gthread -w2 --threads '8' app"
    assert parse_args(words(new)[1:]).values() == {"worker_class": "gthread", "workers": "2", "threads": "8"}


def test_param_default() -> None:
    word = words('"${GUNICORN_WORKERS:-4}"', expansions=True)[0]
    found = param_default(word)
    assert found.name == "GUNICORN_WORKERS" and found.default == "4"
    assert word.span(found.start, found.end) is not None


def test_apply_edits_merges_insertions_and_rejects_overlaps() -> None:
    assert apply_edits("ab", [Edit(1, 1, "X"), Edit(1, 1, "Y"), Edit(1, 1, "X")]) == "aXYb"
    with pytest.raises(EditConflict):
        apply_edits("abc", [Edit(0, 2, "X"), Edit(1, 3, "Y")])


YAML_SAMPLES = """\
plain: gunicorn -k gevent app
single: 'gunicorn -k ''gevent'' app'
double: "gunicorn -k \\"gevent\\" app\\t"
folded: >
  gunicorn
  -k gevent

  app
literal: |-
  exec gunicorn \\
    -k gevent app
multi: gunicorn
  -k gevent
flow: [gunicorn, "-k", 'gevent']
"""


def test_yaml_scalars_map_back_to_the_source() -> None:
    root = YAML(typ="safe", pure=True).compose(YAML_SAMPLES)
    checked = 0
    for _, value in root.value:
        nodes = value.value if isinstance(value.value, list) else [value]
        for node in nodes:
            mapped = scalar_mapped(YAML_SAMPLES, node)
            assert mapped is not None, node.value
            assert mapped.text == node.value
            for i, char in enumerate(mapped.text):
                if char not in " \n\t\"'":
                    assert YAML_SAMPLES[mapped.offsets[i]] == char
            checked += 1
    assert checked == 9


def test_ini_reader_agrees_with_configparser() -> None:
    text = (
        "[program:web]\n"
        "command=gunicorn\n"
        "    -k gevent ; inline\n"
        "\n"
        "    app\n"
        "; comment\n"
        "directory = /srv\n"
    )
    entries = read_ini(text)
    assert configparser_check(text, entries) is None
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    command = next(e for e in entries if e.key == "command")
    assert command.value.text == parser.get("program:web", "command")


def test_template_mask_keeps_offsets() -> None:
    text = 'workers = {{ n }}\n{% if x %}\nthreads = 4\n{% endif %}\n'
    template = mask(text)
    assert len(template.masked) == len(text)
    assert template.masked.splitlines()[0] == "workers = " + "_" * 7
    threads_at = text.index("threads")
    assert template.touches(threads_at, threads_at + 7)
    assert template.expression_at(10, 17, text) == "{{ n }}"
