"""Shared fixtures. The lab (a real fleet in network namespaces) is brought up once per
test session, reset to the incident's broken state, and torn down by the last test."""
from __future__ import annotations

import os

import pytest

LAB_HOSTS = int(os.environ.get("REMEDIATION_LAB_HOSTS", "6"))
# The delay proxy's one-way delay for the test session. The tests judge reuse by connection ids and
# the DB server's counters, and every latency assertion is relative to lab.current_delay(), so a
# connect of ~0.25 s (PostgreSQL; the demo's and the benchmarks' 100 ms give the incident's ~1 s)
# proves the same and spares the suite a second per gevent request.
LAB_DELAY_MS = int(os.environ.get("REMEDIATION_LAB_DELAY_MS", "25"))


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs root and the lab fleet (namespaces, sshd, databases)")
    config.addinivalue_line("markers", "lab_teardown: runs after every other lab test")
    config.addinivalue_line("markers", "bench: runs `invoke bench --quick` after the other lab tests")
    config.addinivalue_line("markers", "sshnet: real sshd in the tests' own namespaces (rmssh-*), not the lab; "
                                       "runs in the normal run as root, skips otherwise")


def pytest_collection_modifyitems(config, items):
    """Run the bench after the other lab tests (it grows the lab), and the lab's teardown last."""
    bench = [item for item in items if item.get_closest_marker("bench")]
    last = [item for item in items if item.get_closest_marker("lab_teardown")]
    items[:] = [item for item in items if item not in last and item not in bench] + bench + last


class Fleet:
    """The running lab: host specs by name, and which kinds could not be started."""

    def __init__(self, specs, skipped: dict[str, str]):
        self.specs = {spec.name: spec for spec in specs}
        self.skipped = skipped  # host name -> reason (e.g. no docker engine)

    def host(self, name: str):
        if name in self.skipped:
            pytest.skip(f"{name}: {self.skipped[name]}")
        return self.specs[name]

    def first(self, restart: str, database: str):
        for spec in self.specs.values():
            if spec.restart == restart and spec.database == database:
                return self.host(spec.name)
        pytest.skip(f"no {restart} host on {database} in this lab")


@pytest.fixture(scope="session")
def quick_playbook(tmp_path_factory):
    """The default playbook with 20 timed requests: fewer than its 30 keeps the lab tests short,
    and more than the new-connection limit (16) keeps the count able to fail."""
    from labtools import QUICK_REQUESTS, playbook_variant

    return playbook_variant(tmp_path_factory.mktemp("playbooks"), "quick", QUICK_REQUESTS)


@pytest.fixture
def runs_dir(tmp_path):
    """A fresh run-journal directory per test."""
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def fleet():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from lab import config
    from lab import lab
    from lab.sh import LabError

    skipped: dict[str, str] = {}
    if os.environ.get("REMEDIATION_LAB_AS_IS") == "1":  # another session owns the main fleet: use it as it is
        yield Fleet(config.fleet(LAB_HOSTS), skipped)
        return
    try:
        report = lab.up(LAB_HOSTS, delay_ms=LAB_DELAY_MS)
        print(f"\nlab up in {report['seconds']} s (started: {report['started']}, kept: {report['kept']}; "
              f"proxy delay {LAB_DELAY_MS} ms each way)")
    except LabError as exc:
        message = str(exc)
        compose_hosts = [s.name for s in config.fleet(LAB_HOSTS) if s.restart == "compose"]
        failed = [part.split(":")[0] for part in message.split("; ")]
        if failed and all(name in compose_hosts for name in failed) and "docker" in message:
            for name in failed:
                skipped[name] = f"docker engine unavailable: {message}"
            print(f"\nSKIPPING docker-compose hosts: {message}")
        else:
            raise
    specs = [s for s in config.fleet(LAB_HOSTS) if s.name not in skipped]
    lab.reset(specs)
    yield Fleet(config.fleet(LAB_HOSTS), skipped)


class FaultMatrix:
    """Rows the fault and hostile-input tests record; written to build/fault-matrix.md at the end
    (lab/faultmatrix.py; `invoke lab.fault-matrix` puts it in the README)."""

    def __init__(self):
        self.faults: list[tuple[str, bool, int]] = []
        self.inputs: list[tuple[str, bool]] = []

    def add(self, fault: str, survived: bool, lost: int) -> None:
        self.faults.append((fault, survived, lost))

    def add_input(self, what: str, rejected: bool) -> None:
        self.inputs.append((what, rejected))

    def markdown(self) -> str:
        lines = ["| fault injected | survived (files byte-identical, app serving) | files lost |", "|---|---|---|"]
        lines += [f"| {f} | {'yes' if ok else 'NO'} | {lost} |" for f, ok, lost in self.faults]
        lines += ["", "| bad input tried | rejected cleanly (one line, non-zero, nothing changed) |", "|---|---|"]
        lines += [f"| {w} | {'yes' if ok else 'NO'} |" for w, ok in self.inputs]
        total = (f"\n{len(self.faults)} faults injected, {sum(ok for _, ok, _ in self.faults)} survived, "
                 f"{sum(lost for *_, lost in self.faults)} files lost; {len(self.inputs)} bad inputs tried, "
                 f"{sum(ok for _, ok in self.inputs)} rejected cleanly.")
        return "\n".join(lines) + "\n" + total + "\n"


_MATRIX = FaultMatrix()


@pytest.fixture(scope="session")
def fault_matrix():
    return _MATRIX


def pytest_sessionfinish(session, exitstatus):
    """Write the measured fault matrix to build/fault-matrix.md (git-ignored, never a tracked file)
    when the fault tests ran and passed."""
    if not _MATRIX.faults or exitstatus != 0:
        return
    opts = session.config.option
    if opts.keyword or opts.markexpr or getattr(opts, "lf", False) or session.config.args not in ([], ["tests"]):
        return  # a partial run would write a partial table
    from lab.faultmatrix import write_measured

    path = write_measured(_MATRIX.markdown())
    print(f"\nfault matrix written to {path}; `invoke lab.fault-matrix` puts it in the README")


_FILE_SECONDS: dict[str, dict[str, float]] = {}


def pytest_runtest_logreport(report):
    """Time spent per test file and phase (module fixtures bring labs up in setup)."""
    path = report.nodeid.split("::", 1)[0]
    phases = _FILE_SECONDS.setdefault(path, {"setup": 0.0, "call": 0.0, "teardown": 0.0})
    phases[report.when] += report.duration


def pytest_terminal_summary(terminalreporter):
    """The slowest test files, so the suite's time budget (under 60 min) can be watched run by run."""
    total = {path: sum(phases.values()) for path, phases in _FILE_SECONDS.items()}
    if sum(total.values()) < 120:
        return
    terminalreporter.section("slowest test files (s): total = setup + call + teardown")
    for path in sorted(total, key=lambda p: -total[p])[:15]:
        p = _FILE_SECONDS[path]
        terminalreporter.write_line(f"{total[path]:8.1f} = {p['setup']:7.1f} + {p['call']:7.1f} + "
                                    f"{p['teardown']:6.1f}  {path}")
