"""systemd's expansion of `$VAR`/`${VAR}` into ExecStart, traced to the file and line that set
VAR (remediation/discovery/sources/systemd_env.py; no lab).

The fixtures model the shapes real projects leave: debops' gunicorn@.service (an optional
`EnvironmentFile=-/etc/default/gunicorn-%i` whose GUNICORN_OPTS a per-instance drop-in's ExecStart
expands as `${GUNICORN_OPTS}`), NetBox's contrib netbox@.service (`--config ${ConfigPath}
--pythonpath ${WorkingDirectory}` from a non-optional /etc/sysconfig env file with spaces around
one `=`), and a Red Hat style `/etc/sysconfig/app` whose OPTIONS an unbraced `$OPTIONS` splits
into several words. Our own text, not the projects' files."""
from __future__ import annotations

import shlex

from remediation.discovery import audit_files
from remediation.discovery.model import Hints, SystemdUnit
from remediation.discovery.sources.systemd import locate_unit, unit_specifiers
from remediation.discovery.sources.systemd_env import (EnvFileRef, expand_words, read_env_file,
                                                       unit_environment)
from remediation.discovery.sources.base import EnvSetting
from remediation.discovery.tree import Tree
from remediation.discovery.words import Mapped, split_words
from remediation.model import Target

VENV = "/srv/venv/bin/gunicorn"
ETC = "etc/systemd/system"


# -- the env file, as systemd reads it ------------------------------------------------------------

ENV_FILE = """\
# comment
; also a comment
Name = 'Netbox'
OPTS="-k gevent --workers 4"
PLAIN=  /srv/app/ \t
HASH=a # not a comment for systemd
ESC="a\\"b"
CONT=one \\
  two
AFTER=1
OPTS='--threads 2'
"""


def test_an_env_file_is_read_as_systemd_reads_it():
    read = read_env_file("etc/sysconfig/app", ENV_FILE)
    values = {name: s.text for name, s in read.values.items()}
    assert values == {"Name": "Netbox", "OPTS": "--threads 2", "PLAIN": "/srv/app/",
                      "HASH": "a # not a comment for systemd", "AFTER": "1"}
    assert read.unclear == {"ESC", "CONT"}  # escapes and continuations are not read verbatim
    opts = read.values["OPTS"]  # the later line wins, and its characters are where they stand
    assert ENV_FILE[opts.value.offsets[0]:opts.value.end] == "--threads 2"
    assert read_env_file("x", 'A="open\nB=2\n').whole_file_unclear


def _setting(name: str, value: str, file: str = f"{ETC}/app.service") -> EnvSetting:
    text = f"Environment={name}={value}\n"
    start = text.index("=", len("Environment=")) + 1
    return EnvSetting(file, "systemd", "app.service", name, Mapped.region(text, start, start + len(value)))


def test_env_files_override_environment_and_a_later_file_wins():
    files = {"/etc/default/a": "X=from-a\nY=from-a\n", "/etc/default/b": "Y=from-b\n"}
    refs = [EnvFileRef("/etc/default/a", False), EnvFileRef("/etc/default/b", True)]
    env = unit_environment({"X": _setting("X", "unit"), "Z": _setting("Z", "unit")}, refs,
                           lambda p: (p.lstrip("/"), files[p]) if p in files else None)
    assert {n: (env.lookup(n)[0].file, env.lookup(n)[0].text) for n in "XYZ"} == {
        "X": ("etc/default/a", "from-a"), "Y": ("etc/default/b", "from-b"), "Z": (f"{ETC}/app.service", "unit")}
    assert env.lookup("MAINPID")[0] is None  # systemd's own: not in any file, unknown (never "unset")


def test_an_unread_env_file_makes_what_it_may_override_unknown():
    refs = [EnvFileRef("/etc/default/a", False), EnvFileRef("/etc/default/gone", True),
            EnvFileRef("/etc/default/unread", False), EnvFileRef("/etc/default/c", False)]
    files = {"/etc/default/a": "X=1\n", "/etc/default/c": "Y=2\n"}
    env = unit_environment({}, refs, lambda p: (p.lstrip("/"), files[p]) if p in files else None,
                           absent=frozenset({"/etc/default/gone"}), unset=frozenset({"Q"}))
    setting, why = env.lookup("X")
    assert setting is None and "/etc/default/unread" in why  # it comes after the file that sets X
    assert env.lookup("Y")[0].text == "2"  # set after every unread file: known
    assert "UnsetEnvironment" in env.lookup("Q")[1]


# -- the expansion --------------------------------------------------------------------------------

def _words(line: str) -> list:
    return split_words(Mapped.region(line), expansions=True)


def test_braced_is_one_word_unbraced_alone_splits_and_dollar_dollar_is_a_dollar():
    text = 'OPTS="-k gevent \'--name=a b\'"\nDIR=/etc/gunicorn\n'
    env = unit_environment({}, [EnvFileRef("/etc/default/app", False)], lambda p: ("etc/default/app", text))
    out = expand_words(_words("-c ${DIR}/app.py ${OPTS} $OPTS x$$y ${NOPE} ${DIR:-/x}"), env)
    assert [w.value for w in out.words] == ["-c", "/etc/gunicorn/app.py", "-k gevent '--name=a b'", "-k", "gevent",
                                            "--name=a b", "x$y", "${NOPE}", "${DIR:-/x}"]
    assert out.inputs == ("etc/default/app",) and len(out.unresolved) == 2 and out.changed
    mixed = out.words[1]  # the literal tail is the unit's, the variable's characters the env file's
    [origin] = mixed.origins
    assert (origin.var, origin.file, origin.start, origin.end) == ("DIR", "etc/default/app", 0, len("/etc/gunicorn"))
    gevent = out.words[4]
    assert text[gevent.offsets[0]:gevent.offsets[-1] + 1] == "gevent" and gevent.origin_of(0).var == "OPTS"
    assert out.words[7].expands and out.words[8].expands  # left as written: unknown


# -- a unit, its drop-in and its env file: where the value is patched ------------------------------

TEMPLATE = f"""[Unit]
Description=Green Unicorn for %i
[Service]
EnvironmentFile=-/etc/default/gunicorn-%i
ExecStart={VENV} --config=/etc/gunicorn/%i.conf.py ${{GUNICORN_OPTS}}
"""
DROPIN = f"""[Service]
WorkingDirectory=/srv/app
Environment="DJANGO_SETTINGS_MODULE=shop.settings"
ExecStart=
ExecStart={VENV} --config=/etc/gunicorn/%i.conf.py ${{GUNICORN_OPTS}} shop.wsgi:application
"""
OPTS_FILE = '# set by the role\nGUNICORN_OPTS="--worker-class=gevent"\n'
UNIT = "gunicorn@shop.service"
LOADED = (f"{ETC}/gunicorn@.service", f"{ETC}/gunicorn@shop.service.d/instance.conf")
TREE = {
    LOADED[0]: TEMPLATE, LOADED[1]: DROPIN, "etc/default/gunicorn-shop": OPTS_FILE,
    "etc/gunicorn/shop.conf.py": "bind = '0.0.0.0:8000'\nworkers = 3\nworker_class = 'sync'\n",
    "srv/app/shop/__init__.py": "",
    "srv/app/shop/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop',\n"
                                "                         'CONN_MAX_AGE': 600, 'CONN_HEALTH_CHECKS': True}}\n",
}
LIVE = [VENV, "--config=/etc/gunicorn/shop.conf.py", "--worker-class=gevent", "shop.wsgi:application"]


def _hints(argv=LIVE, absent=()) -> Hints:
    unit = SystemdUnit(UNIT, LOADED, tuple(sorted(unit_specifiers(UNIT).items())), tuple(absent))
    return Hints(command=shlex.join(["/srv/venv/bin/python3", *argv]), cwd="srv/app",
                 config_path="etc/gunicorn/shop.conf.py", settings_module="shop.settings",
                 env={"DJANGO_SETTINGS_MODULE": "shop.settings"}, env_names=frozenset({"GUNICORN_OPTS", "PATH"}),
                 systemd_unit=unit)


def test_the_drop_in_command_takes_its_worker_class_from_the_env_file():
    tree = Tree(TREE, _hints().systemd_unit)
    [inv] = tree.located.invocations
    occ = inv.args.last("worker_class")
    word = inv.args.words[occ.value_index]
    assert (occ.value, word.origin_of(occ.value_start).file) == ("gevent", "etc/default/gunicorn-shop")
    assert inv.raw_args.last("worker_class") is None and inv.inputs == ("etc/default/gunicorn-shop",)


def test_the_switch_lands_inside_the_env_files_string_and_the_restart_runs_it():
    result = audit_files(TREE, Target(), _hints())
    assert result.patched["etc/default/gunicorn-shop"] == OPTS_FILE.replace("gevent", "gthread")
    [finding] = [f for f in result.findings if f.setting == "worker_class" and f.action == "patch"]
    assert (finding.file, finding.line) == ("etc/default/gunicorn-shop", 2)  # the line that sets it: inspect shows it
    assert "--worker-class=gthread" in shlex.split(result.restarted_command)
    assert "${GUNICORN_OPTS}" in result.patched.get(LOADED[1], DROPIN)  # the reference itself stays


def test_words_that_disagree_with_the_live_process_are_refused_not_guessed():
    """The env file says gevent, but the process (started before someone edited the file, or given
    another value by a source the tool cannot see) runs eventlet: nothing is traced, nothing patched."""
    live = [w.replace("gevent", "eventlet") for w in LIVE]
    result = audit_files(TREE, Target(), _hints(live))
    assert result.patched == {}  # nor a flag added beside a class that stays unknown
    [finding] = [f for f in result.findings if f.setting == "worker_class" and f.file == "etc/default/gunicorn-shop"]
    assert finding.action == "report" and "--worker-class=gevent" in finding.reason and "eventlet" in finding.reason


def test_an_env_file_not_read_leaves_the_words_unknown():
    tree = {k: v for k, v in TREE.items() if k != "etc/default/gunicorn-shop"}
    result = audit_files(tree, Target(), _hints())
    assert not any(f.action == "patch" and f.setting == "worker_class" for f in result.findings)


def test_an_optional_env_file_the_host_lacks_sets_nothing_yet_the_variable_stays_unknown():
    """`EnvironmentFile=-/etc/default/gunicorn-%i` the host lacks: no file of the unit sets
    GUNICORN_OPTS, but systemd's manager environment still may: the word stays as written."""
    tree = {k: v for k, v in TREE.items() if k != "etc/default/gunicorn-shop"}
    env = unit_environment({}, [EnvFileRef("/etc/default/gunicorn-shop", True)], None,
                           absent=frozenset({"/etc/default/gunicorn-shop"}))
    setting, why = env.lookup("GUNICORN_OPTS")
    assert setting is None and "no file" in why and not env.unread
    [inv] = Tree(tree, _hints(absent=["/etc/default/gunicorn-shop"]).systemd_unit).located.invocations
    assert inv.raw_args is None and any(w.expands and w.value == "${GUNICORN_OPTS}" for w in inv.args.words)


# -- NetBox's shape: the config path and the code dir from a non-optional env file -----------------

NETBOX_UNIT = f"""[Service]
Type=simple
EnvironmentFile=/etc/sysconfig/netbox.%i.env
WorkingDirectory=/srv/app
ExecStart={VENV} --config ${{ConfigPath}} --pythonpath ${{WorkingDirectory}} shop.wsgi
"""
NETBOX_ENV = "# Name is the Process Name\nName = 'Netbox'\nConfigPath=/srv/netbox/gunicorn.conf\nWorkingDirectory=/srv/app/\n"


def test_the_config_path_a_variable_gives_is_the_config_read():
    files = [(f"{ETC}/netbox@.service", NETBOX_UNIT)]
    texts = {"etc/sysconfig/netbox.site.env": NETBOX_ENV}
    found = locate_unit(files, "netbox@site.service", unit_specifiers("netbox@site.service"),
                        lambda p: (p.lstrip("/"), texts[p.lstrip("/")]) if p.lstrip("/") in texts else None)
    [inv] = found.invocations
    assert inv.args.last("config").value == "/srv/netbox/gunicorn.conf"
    assert [w.value for w in inv.args.words] == ["--config", "/srv/netbox/gunicorn.conf", "--pythonpath", "/srv/app/",
                                                 "shop.wsgi"]
    tree = {f"{ETC}/netbox@.service": NETBOX_UNIT, **texts, "srv/netbox/gunicorn.conf": "workers = 3\nthreads = 3\n",
            **{k: v for k, v in TREE.items() if k.startswith("srv/app")}}
    unit = SystemdUnit("netbox@site.service", (f"{ETC}/netbox@.service",),
                       tuple(sorted(unit_specifiers("netbox@site.service").items())))
    live = [VENV, "--config", "/srv/netbox/gunicorn.conf", "--pythonpath", "/srv/app/", "shop.wsgi"]
    result = audit_files(tree, Target(), Hints(command=shlex.join(live), cwd="srv/app", settings_module="shop.settings",
                                               systemd_unit=unit))  # no config path given: the traced word names it
    threads = [f for f in result.findings if f.setting == "threads"]
    assert [(f.file, f.current, f.action) for f in threads] == [("srv/netbox/gunicorn.conf", "3", "ok")]
    assert not result.patched  # gthread (sync with threads 3) already: its sizing kept, nothing to change


# -- a sandboxed service is no container (NetBox's unit has PrivateTmp=true) ------------------------

def test_a_service_with_a_mount_namespace_over_the_hosts_root_is_no_container(monkeypatch):
    """PrivateTmp= (ProtectSystem=...) gives the service a mount namespace of its own over the
    host's root: its paths are the host's, so its files are read and systemd manages it; a
    process under another root that no engine knows is still an unknown container ("")."""
    import os

    from agent_payload import hostagent

    assert hostagent.shares_root(os.getpid())  # this very process: the host's root
    monkeypatch.setattr(hostagent, "mount_ns", lambda pid: "mnt:[2]" if pid != 1 else "mnt:[1]")
    assert hostagent.container_of(7, [7, 1], {}, same_root=True) == (None, None)
    assert hostagent.container_of(7, [7, 1], {}, same_root=False) == ("", None)
    known = {"Id": "abc", "State": {"Pid": 7}}
    assert hostagent.container_of(7, [7, 1], {7: known}, same_root=True) == ("abc", known)  # the engine's word wins


def test_the_live_unit_names_the_env_files_the_host_lacks():
    """systemctl show names the unit's EnvironmentFile= paths (optional ones too); the read says
    which the host does not have: those set nothing (not "not read")."""
    from remediation.facts.gather import Gathered
    from remediation.model import AppView, GunicornMaster, HostFacts, RemoteFile, RestartMethod
    from remediation.plan.inspection import systemd_unit

    shown = {"id": UNIT, "fragment": "/" + LOADED[0], "dropins": ["/" + LOADED[1]],
             "env_files": [{"path": "/etc/default/gunicorn-shop", "optional": True},
                           {"path": "/etc/default/other", "optional": True}]}
    method = RestartMethod("systemd", program=UNIT, systemd=shown)
    master = GunicornMaster(7, LIVE, "app", 1000, "/srv/app", None, {}, [], method)
    files = {"/etc/default/gunicorn-shop": RemoteFile("/etc/default/gunicorn-shop", None, None, error="missing"),
             "/etc/default/other": RemoteFile("/etc/default/other", b"X=1\n", "x")}
    unit = systemd_unit(Gathered(HostFacts("web1", [master], {}, "python3"), master, files, AppView()))
    assert unit.absent == ("/etc/default/gunicorn-shop",) and unit.files[:2] == LOADED


def test_settings_are_looked_for_on_the_live_pythonpath_too():
    """NetBox's `--pythonpath ${WorkingDirectory}`: the expanded path is on the live command line,
    and the settings module is looked for under it as well as under the working directory."""
    from remediation.facts.gather import settings_candidates
    from remediation.model import GunicornMaster, RestartMethod

    argv = [VENV, "--config", "/srv/netbox/gunicorn.conf", "--pythonpath", "/opt/netbox/netbox,lib", "netbox.wsgi"]
    master = GunicornMaster(7, argv, "app", 1000, "/srv/app", None, {}, [], RestartMethod("systemd", program="n.service"))
    # in sys.path's order (facts/gather.py import_roots): gunicorn inserts each entry first, the last one leading
    assert [d for dirs in settings_candidates(master, "netbox.settings") for d in dirs] == [
        "/srv/app/lib/netbox", "/srv/app/lib/netbox/settings", "/opt/netbox/netbox/netbox",
        "/opt/netbox/netbox/netbox/settings", "/srv/app/netbox", "/srv/app/netbox/settings"]
    master.argv[3:5] = ["--pythonpath", "/srv/app/"]  # the same dir as the working directory: listed once
    assert settings_candidates(master, "netbox.settings") == [["/srv/app/netbox", "/srv/app/netbox/settings"]]
