"""Drain and ready hooks: read from the inventory (bad values one line with file and line), run
for real with `sh` on the controller or through the host's command runner, a failure one line."""
from __future__ import annotations

import subprocess
import textwrap

import pytest

from remediation import hooks
from remediation.config.inventory import load_inventory
from remediation.errors import InputError
from remediation.transport.remote import CommandResult


def inventory(tmp_path, text: str):
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent(text))
    return load_inventory(path), path


def test_hooks_come_from_the_inventory_per_group(tmp_path):
    inv, _ = inventory(tmp_path, """\
        web:
          vars:
            remediation_drain_command: "echo drain $REMEDIATION_HOST"
            remediation_ready_command: "echo ready"
            remediation_drain_wait_s: 2
          hosts:
            web1: {ansible_host: 10.0.0.1, remediation_app_port: 8001}
        other:
          hosts:
            db1:
        """)
    web1 = inv.host("web1")
    assert hooks.check("web1", web1.vars) == hooks.Hooks("echo drain $REMEDIATION_HOST", "echo ready", "controller",
                                                         120, 2.0)
    assert hooks.environment("web1", web1.vars) == {"REMEDIATION_HOST": "web1", "REMEDIATION_ADDRESS": "10.0.0.1",
                                                    "REMEDIATION_PORT": "8001"}
    assert not hooks.check("db1", inv.host("db1").vars).any


@pytest.mark.parametrize("line, fragment", [
    ("remediation_hooks_run_on: lb", "must be one of controller, host"),
    ("remediation_drain_command: ''", "must be a shell command"),
    ("remediation_ready_command: [a, b]", "must be a shell command"),
    ("remediation_drain_wait_s: forever", "must be a number of seconds"),
    ("remediation_hook_timeout_s: -1", "must be a number of seconds"),
])
def test_a_bad_hook_var_is_one_line_with_file_and_line_when_its_host_is_selected(tmp_path, line, fragment):
    inv, path = inventory(tmp_path, f"all:\n  hosts:\n    web1:\n      {line}\n    web2:\n")
    assert inv.host("web2")  # another host still runs
    with pytest.raises(InputError) as info:
        inv.host("web1")
    assert fragment in str(info.value) and info.value.path == str(path) and info.value.line == 4


def test_a_controller_hook_runs_with_the_hosts_environment(tmp_path):
    out = tmp_path / "seen"
    h = hooks.Hooks(drain=f'echo "$REMEDIATION_HOST $REMEDIATION_ADDRESS" > {out}')
    hooks.run("drain", h.drain, h, {"REMEDIATION_HOST": "web1", "REMEDIATION_ADDRESS": "10.0.0.1"})
    assert out.read_text() == "web1 10.0.0.1\n"


def test_a_failing_hook_says_which_and_its_last_line(tmp_path):
    h = hooks.Hooks(drain="echo first >&2; echo 'no such backend' >&2; exit 3")
    with pytest.raises(hooks.HookFailed, match=r"the drain hook exited 3 on the controller: no such backend$"):
        hooks.run("drain", h.drain, h, {})


def test_a_hook_that_hangs_is_stopped_at_its_timeout():
    h = hooks.Hooks(ready="sleep 30", timeout_s=1)
    with pytest.raises(hooks.HookFailed, match="did not finish in 1 s"):
        hooks.run("ready", h.ready, h, {})


class LocalRunner:
    """Stands for the host's connection: runs the argv it is given with a real sh, here."""

    def __init__(self):
        self.argvs = []

    def run(self, argv, timeout, check):
        self.argvs.append(argv)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return CommandResult(done.returncode, done.stdout, done.stderr)


def test_a_host_hook_runs_through_the_hosts_connection_with_its_environment(tmp_path):
    out = tmp_path / "seen"
    h = hooks.Hooks(ready=f"printf '%s' \"$REMEDIATION_HOST;$REMEDIATION_PORT\" > {out}", run_on="host")
    runner = LocalRunner()
    hooks.run("ready", h.ready, h, {"REMEDIATION_HOST": "web 1", "REMEDIATION_PORT": "8001"}, runner)
    assert out.read_text() == "web 1;8001"
    assert runner.argvs[0][:1] == ["env"] and runner.argvs[0][-3:-1] == ["sh", "-c"]
    h = hooks.Hooks(drain="exit 7", run_on="host")
    with pytest.raises(hooks.HookFailed, match="exited 7 on the host"):
        hooks.run("drain", h.drain, h, {}, runner)
