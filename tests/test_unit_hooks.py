"""Drain and ready hooks: read from the inventory (bad values one line with file and line), run
for real with `sh` on the controller or through the host's command runner, a failure one line."""
from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

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
    assert web1.hooks == hooks.check("web1", web1.vars) == hooks.Hooks("echo drain $REMEDIATION_HOST", "echo ready", "controller",
                                                         120, 2.0)
    assert hooks.environment("web1", web1.address, web1.vars) == {"REMEDIATION_HOST": "web1", "REMEDIATION_ADDRESS": "10.0.0.1",
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


# --- the documented haproxy hooks, against a real haproxy ---------------------------------------

HAPROXY_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hooks" / "haproxy.yml"
REMOTE_API = "ssh lb1 sudo socat stdio /run/haproxy/admin.sock"


class Backend:
    """An HTTP server that answers with its name, /slow after a pause (requests in flight)."""

    def __init__(self, name: str, pause: float = 1.5):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                if self.path == "/slow":
                    time.sleep(pause)
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def haproxy(tmp_path):
    import shutil

    if not shutil.which("haproxy") or not shutil.which("socat"):
        pytest.skip("haproxy and socat are not installed (bash .ci/setup installs them)")
    backends = [Backend("web1"), Backend("web2")]
    front = _free_port()
    sock = tmp_path / "admin.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(textwrap.dedent(f"""\
        global
          stats socket {sock} mode 600 level admin
        defaults
          mode http
          timeout connect 2s
          timeout client 10s
          timeout server 10s
        frontend f
          bind 127.0.0.1:{front}
          default_backend app
        backend app
          balance roundrobin
          server web1 127.0.0.1:{backends[0].port}
          server web2 127.0.0.1:{backends[1].port}
        """))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("haproxy did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{front}", sock
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for b in backends:
            b.close()


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def test_the_documented_haproxy_hooks_drain_in_flight_requests_and_ready_the_host(haproxy):
    """examples/hooks/haproxy.yml's commands, the load balancer reached locally instead of over SSH."""
    from concurrent.futures import ThreadPoolExecutor

    import yaml

    url, sock = haproxy
    example = yaml.safe_load(HAPROXY_EXAMPLE.read_text())["web"]["vars"]
    assert REMOTE_API in example["remediation_drain_command"] and REMOTE_API in example["remediation_ready_command"]
    local = {key: value.replace(REMOTE_API, f"socat stdio {sock}") for key, value in example.items()}
    h = hooks.check("web1", local)
    env = {"REMEDIATION_HOST": "web1"}
    with ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(_get, url + "/slow") for _ in range(4)]  # round robin: two on each server
        time.sleep(0.3)
        started = time.monotonic()
        hooks.run("drain", h.drain, h, env)
        drained_after = time.monotonic() - started
        answers = sorted(f.result() for f in in_flight)
    assert answers == ["web1", "web1", "web2", "web2"]  # nothing in flight was cut
    assert drained_after > 0.8  # the drain waited for web1's requests to finish
    assert {_get(url) for _ in range(6)} == {"web2"}  # drained: new requests go elsewhere
    hooks.run("ready", h.ready, h, env)
    assert {_get(url) for _ in range(6)} == {"web1", "web2"}
    with pytest.raises(hooks.HookFailed, match="exited 1"):  # haproxy's own error fails the hook
        hooks.run("drain", h.drain, h, {"REMEDIATION_HOST": "web9"})
