"""verify.timeout_s is read: it is each verification request's limit (curl --max-time), in the
warm-up and the timed requests, and the commands' own deadlines follow it."""
from __future__ import annotations

import inspect as pyinspect
import socket
import subprocess
import threading
import time

from remediation.verify import measure
from remediation.verify.measure import REQUESTS_SCRIPT, parse_requests, start_measure
from test_unit_measure_preflight import gathered


class RecordingRemote:
    def __init__(self):
        self.started: list[tuple[list[str], float]] = []

    def start(self, argv, *, timeout=120):
        self.started.append((argv, timeout))
        return object()

    def finish(self, started, check=True):
        return None


def test_the_timeout_reaches_the_warm_up_and_the_timed_requests():
    remote = RecordingRemote()
    start_measure(remote, gathered(), "http://127.0.0.1:8000/x", 20, 16, None, count_db=False, concurrency=16,
                  request_timeout_s=7)
    (warm, warm_deadline), (timed, timed_deadline) = remote.started
    assert warm[2] == measure.WARMUP_SCRIPT and warm[-1] == "7"
    assert timed[2] == REQUESTS_SCRIPT and timed[-1] == "7"
    assert warm_deadline == 2 * (7 + 5) + 50
    assert timed_deadline == 60 + (7 + 5) * 2  # 20 requests, 16 at a time: 2 rounds


def test_the_default_is_the_old_fixed_30_seconds():
    remote = RecordingRemote()
    start_measure(remote, gathered(), "http://127.0.0.1:8000/x", 20, 16, None, count_db=False, concurrency=16)
    (warm, warm_deadline), (timed, timed_deadline) = remote.started
    assert warm[-1] == timed[-1] == "30"
    assert (warm_deadline, timed_deadline) == (120, 60 + 35 * 2)


def test_the_playbook_value_is_what_the_flow_and_the_verify_task_pass():
    from remediation import flow
    from remediation.cli import host

    assert pyinspect.getsource(flow).count("request_timeout_s=pb.verify.timeout_s") == 2
    assert "request_timeout_s=pb.verify.timeout_s" in pyinspect.getsource(host._verify_app)  # each app verify measures


def test_the_script_gives_up_on_a_silent_app_after_the_timeout():
    """A server that accepts and never answers: with a 1 s limit each request ends as 000 in ~1 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        began = time.monotonic()
        out = subprocess.run(["sh", "-c", REQUESTS_SCRIPT, "sh", url, "2", "2", "1"],
                             capture_output=True, text=True, timeout=60).stdout
        took = time.monotonic() - began
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    _started, rows, window = parse_requests(out)
    assert [code for code, _ in rows] == [0, 0]
    assert took < 10, f"the 1 s limit was not applied ({took:.1f} s)"
