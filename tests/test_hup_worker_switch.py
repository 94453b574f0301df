"""The facts plan/restart_kind.py rests on, proven on a real gunicorn with gevent (the lab's app venv,
or any interpreter named by REMEDIATION_GUNICORN_PYTHON): a HUP switches the worker class from
gevent to gthread and back with no request lost, the new gthread workers run real (unpatched)
threads; a master whose config monkey-patches it stops handling HUP. A local gunicorn on a free
loopback port in a temp dir: nothing of the shared lab is used."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

PYTHON = Path(os.environ.get("REMEDIATION_GUNICORN_PYTHON", "/var/cache/remediation-lab/appvenv/bin/python"))

APP = '''\
import json, os, threading, time
_local = threading.local()
def application(environ, start_response):
    from gevent import monkey
    _local.n = getattr(_local, "n", 0) + 1
    time.sleep(0.05)
    body = json.dumps({"pid": os.getpid(), "local_n": _local.n,
                       "threading_patched": monkey.is_module_patched("threading")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
'''
CONF = "worker_class = '{cls}'\nworkers = 2\nthreads = 8\ngraceful_timeout = 10\nbind = '127.0.0.1:{port}'\n"
PATCH = "from gevent import monkey\nmonkey.patch_all()\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Load:
    """4 clients, one request at a time each, until stopped: (ok, failed, the last answer per worker pid)."""

    def __init__(self, url: str):
        self.url, self.ok, self.failed, self.seen = url, 0, 0, {}
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(4)]

    def client(self):
        while not self.stop.is_set():
            try:
                answer = json.loads(urllib.request.urlopen(self.url, timeout=10).read())
                with self.lock:
                    self.ok += 1
                    self.seen[answer["pid"]] = answer
            except OSError:
                with self.lock:
                    self.failed += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def workers(master: int) -> dict[int, int]:
    """{worker pid: its thread count} from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if int(fields.get("PPid", "0")) == master:
                out[int(entry)] = int(fields["Threads"])
    return out


def wait_generation(master: int, old: set[int], timeout: float = 20) -> dict[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = workers(master)
        if len(now) >= 2 and not set(now) & old:
            return now
        time.sleep(0.2)
    return {}


@pytest.fixture
def gunicorn(tmp_path):
    if not (PYTHON.exists() and subprocess.run([str(PYTHON), "-c", "import gunicorn, gevent"]).returncode == 0):
        pytest.skip(f"no gunicorn with gevent at {PYTHON} (the lab's app venv; REMEDIATION_GUNICORN_PYTHON)")
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(CONF.format(cls="gevent", port=port))
    log = (tmp_path / "log.txt").open("w")
    proc = subprocess.Popen([str(PYTHON), "-m", "gunicorn", "-c", str(conf), "app:application"], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((tmp_path / "log.txt").read_text()[-2000:]) from None
            time.sleep(0.2)
    try:
        yield proc.pid, conf, port, url, tmp_path / "log.txt"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


def test_a_hup_switches_gevent_to_gthread_and_back_with_no_request_lost(gunicorn):
    master, conf, port, url, _log = gunicorn
    for cls, threaded in (("gthread", True), ("gevent", False)):
        old = set(workers(master))
        with Load(url) as load:
            time.sleep(1)
            conf.write_text(CONF.format(cls=cls, port=port))
            os.kill(master, signal.SIGHUP)
            new = wait_generation(master, old)
            time.sleep(1.5)
        assert new, f"no new generation of workers after the HUP to {cls}"
        assert load.failed == 0 and load.ok > 20, (cls, load.ok, load.failed)
        answers = [load.seen[pid] for pid in new if pid in load.seen]
        assert answers, "the new workers served nothing"
        assert all(a["threading_patched"] is (not threaded) for a in answers), answers
        if threaded:  # a real thread pool, each thread keeping its own thread-local across requests
            assert any(n > 1 for n in workers(master).values())
            assert max(a["local_n"] for a in answers) > 1
        print(f"\nHUP to {cls}: {load.ok} requests, {load.failed} failed; new workers {sorted(new)}")


def test_a_master_patched_by_its_config_no_longer_handles_hup(gunicorn):
    master, conf, port, url, log = gunicorn
    old = set(workers(master))
    conf.write_text(PATCH + CONF.format(cls="gevent", port=port))  # the master runs patch_all on this HUP
    os.kill(master, signal.SIGHUP)
    patched = wait_generation(master, old)
    assert patched
    urllib.request.urlopen(url, timeout=10).read()
    conf.write_text(CONF.format(cls="gthread", port=port))  # the fix, the patch line gone
    os.kill(master, signal.SIGHUP)
    assert wait_generation(master, set(patched), timeout=8) == {}, "the patched master reloaded"
    assert set(workers(master)) == set(patched)  # the same gevent workers still serve
    assert log.read_text().count("Handling signal: hup") == 1  # the second HUP was never handled


def test_the_agents_hup_op_proves_a_new_generation_on_a_real_master(gunicorn):
    """The agent's `hup_reload` (agent/processes.py) on the real master, judged by verify/reload_proof.py: every worker
    new, started after the signal, the master the same; a wrong start time is never signalled."""
    from remediation.agent import processes
    from remediation.verify.reload_proof import generation_problems

    master, conf, port, _url, _log = gunicorn
    started = processes.start_time(master)
    before = sorted(workers(master))
    refused = processes.op_hup_reload({"pid": master, "started": started - 100, "want": 2, "timeout": 5})
    assert refused["signalled"] is False and set(workers(master)) == set(before)
    conf.write_text(CONF.format(cls="gthread", port=port))
    reply = processes.op_hup_reload({"pid": master, "started": started, "want": 2, "timeout": 20})
    assert generation_problems(reply, before, 2, started) == []
    assert sorted(reply["old"]) == before and not {w["pid"] for w in reply["workers"]} & set(before)
    assert reply["now"] - reply["sent"] < 15  # it returned once the generation was new, not at the timeout
