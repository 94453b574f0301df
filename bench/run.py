"""`invoke bench`: the tool measured on the lab, and against an Ansible playbook doing the same job.

1. Fleet inspect (`inspect --limit all --fast`) of 10/50/100 light hosts: wall time, SSH
   connections each host's sshd logged, controller peak RSS and CPU.
2. Full rollout of 10/20 lab hosts (forks = hosts) against bench/ansible/remediate.yml,
   alternating tool/Ansible runs, every run from the incident's broken state.
3. The incident's table on a PostgreSQL and a MariaDB host (delay proxy: a connect costs ~1 s):
   acquisition and request times, new DB connections per 100 requests, before and after.
4. The tool's own overhead per batch: batch wall time minus the host's waits (baseline
   requests, restart, verification requests), from the run journal.

Every figure is measured by this run; nothing is typed in.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from lab import config as lab_config
from lab import lab
from lab import light
from lab.sh import LabError
from remediation.config.playbook import load_playbook

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_DIR = ROOT / "bench" / "ansible"
ANSIBLE_VENV = lab_config.CACHE_DIR / "ansible-venv"
ANSIBLE_REQUIREMENTS = ROOT / "bench" / "requirements-ansible.txt"
BENCH_PLAYBOOK = ROOT / "bench" / "bench-playbook.yml"
RESULTS_MD = ROOT / "bench" / "results.md"
INVOKE = [sys.executable, "-m", "invoke"]


def _child(argv: list[str], env: dict | None = None, timeout: float = 3600) -> dict:
    """Run one command as a child and account for it alone: wall time, exit code, stdout, and its
    own peak RSS and CPU (os.wait4 on its pid, not the running maximum over all children)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    streams: dict[str, bytes] = {}

    def drain(name: str, stream) -> None:
        streams[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(name, stream), daemon=True)
               for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    for reader in readers:
        reader.join()
    if proc.returncode != 0:
        sys.stderr.write(streams.get("stderr", b"").decode(errors="replace")[-3000:])
    return {"wall": wall, "rc": proc.returncode, "stdout": streams.get("stdout", b"").decode(errors="replace"),
            "rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


# -- 1. fleet inspect ------------------------------------------------------------------------

def machine_busy_s() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all CPUs, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def bench_inspect(count: int, repeats: int, say) -> dict:
    light.up(count)
    specs = light.light_fleet(count)
    runs = []
    for _ in range(repeats):
        before = {s.name: lab.ssh_connections(s) for s in specs}
        busy = machine_busy_s()
        result = _child([*INVOKE, "inspect", "--limit", "all", "--inventory", str(light.INVENTORY_PATH), "--fast",
                         "--forks", str(count), "--json", "-"])
        busy = machine_busy_s() - busy  # controller, sshd, sudo and agents alike: all share these CPUs
        per_host = [lab.ssh_connections(s) - before[s.name] for s in specs]
        data = json.loads(result["stdout"]) if result["rc"] == 0 else {}
        runs.append({"wall_s": result["wall"], "tool_s": data.get("seconds"), "rc": result["rc"],
                     "ssh_min": min(per_host), "ssh_max": max(per_host), "rss_mb": result["rss_mb"],
                     "cpu_s": result["cpu_s"], "machine_cpu_s": round(busy, 2),
                     "host_side_cpu_ms_per_host": round(1000 * (busy - result["cpu_s"]) / count, 1),
                     "statuses": data.get("summary")})
        say(f"inspect {count} hosts: {result['wall']:.2f} s (in-tool {data.get('seconds')} s), "
            f"SSH connections per host {min(per_host)}-{max(per_host)}, controller CPU {result['cpu_s']:.2f} s, "
            f"machine CPU {busy:.2f} s ({busy / (os.cpu_count() or 1):.2f} s of wall on {os.cpu_count()} CPUs)")
    walls = [r["wall_s"] for r in runs]
    return {"hosts": count, "runs": runs, "wall_s_median": median(walls), "wall_s_range": spread(walls),
            "tool_s_median": median([r["tool_s"] for r in runs if r["tool_s"] is not None]),
            "cpu_s_median": median([r["cpu_s"] for r in runs]),
            "machine_cpu_s_median": median([r["machine_cpu_s"] for r in runs]),
            # the machine's busy CPU-seconds spread over its CPUs: no schedule of this work can be faster
            "cpu_floor_s_median": median([r["machine_cpu_s"] / (os.cpu_count() or 1) for r in runs]),
            "host_side_cpu_ms_per_host_median": median([r["host_side_cpu_ms_per_host"] for r in runs]),
            "ssh_connections_per_host": sorted({r["ssh_min"] for r in runs} | {r["ssh_max"] for r in runs}),
            "rss_mb_max": round(max(r["rss_mb"] for r in runs), 1)}


# -- 2. rollout against Ansible -----------------------------------------------------------------

def ensure_ansible() -> Path:
    bin_dir = ANSIBLE_VENV / "bin"
    stamp = ANSIBLE_VENV / ".requirements"
    if stamp.exists() and stamp.read_text() == ANSIBLE_REQUIREMENTS.read_text():
        return bin_dir
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ANSIBLE_VENV)], check=True)
    subprocess.run([str(bin_dir / "pip"), "install", "-q", "-r", str(ANSIBLE_REQUIREMENTS)], check=True)
    stamp.write_text(ANSIBLE_REQUIREMENTS.read_text())
    return bin_dir


def ansible_version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "ansible-playbook"), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def run_tool(count: int, runs_dir: Path) -> dict:
    busy = machine_busy_s()
    result = _child([*INVOKE, "rollout", "--limit", "all", "--inventory", "inventory/lab.yml", "--serial", "100%",
                     "--forks", str(count), "--yes", "--playbook", str(BENCH_PLAYBOOK), "--json", "-"],
                    env={"REMEDIATION_RUNS_DIR": str(runs_dir)})
    busy = machine_busy_s() - busy
    report = json.loads(result["stdout"]) if result["stdout"].strip().startswith("{") else {}
    statuses = {h: r.get("status") for h, r in (report.get("hosts") or {}).items()}
    return {"wall_s": result["wall"], "rc": result["rc"], "run_id": report.get("run_id"), "statuses": statuses,
            "controller_cpu_s": round(result["cpu_s"], 2), "machine_cpu_s": round(busy, 2)}


def run_ansible(bin_dir: Path, count: int, requests: int) -> dict:
    env = {"ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_FORKS": str(count),
           "ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={lab_config.KNOWN_HOSTS}"}
    busy = machine_busy_s()
    result = _child([str(bin_dir / "ansible-playbook"), "-i", "inventory/lab.yml", "-f", str(count),
                     "-e", f"requests={requests}", str(ANSIBLE_DIR / "remediate.yml")], env=env)
    busy = machine_busy_s() - busy
    recap = [line for line in result["stdout"].splitlines() if "ok=" in line and "failed=" in line]
    failed = [line.split()[0] for line in recap if "failed=0" not in line or "unreachable=0" not in line]
    return {"wall_s": result["wall"], "rc": result["rc"], "hosts": len(recap), "failed": failed,
            "controller_cpu_s": round(result["cpu_s"], 2), "machine_cpu_s": round(busy, 2)}


def host_wait(marks: list[tuple[float, str]], baseline_requests_s: float | None = None) -> float:
    """Seconds a host spent waiting on its app: the baseline's timed requests (their own wall
    time on the host, `baseline_requests_s`: apply and check-config ran meanwhile when they
    overlap, and only the requests' length is waiting), the restart and the verification."""
    waited = 0.0
    for (t1, stage), (t2, _next) in zip(marks, marks[1:]):
        if stage in ("restart", "verify") or (stage in ("baseline", "baseline-wait") and baseline_requests_s is None):
            waited += t2 - t1
    return waited + (baseline_requests_s or 0.0)


def overhead_per_batch(runs_dir: Path, run_id: str) -> list[float]:
    """Batch wall time minus the longest host wait (baseline requests + restart + verify) in that batch."""
    events = [json.loads(line) for line in (runs_dir / run_id / "events.jsonl").read_text().splitlines() if line]
    batches, stage_times, requests_s = [], {}, {}
    for e in events:
        if e["event"] == "batch-start":
            batches.append({"start": e["t"], "hosts": e["hosts"]})
        elif e["event"] == "batch-end":
            batches[-1]["end"] = e["t"]
        elif e["event"] in ("stage", "result"):
            stage_times.setdefault(e["host"], []).append((e["t"], e.get("stage", "end")))
        elif e["event"] == "baseline-requests" and e.get("seconds") is not None:
            requests_s[e["host"]] = e["seconds"]
    out = []
    for batch in batches:
        waits = [host_wait(stage_times.get(host, []), requests_s.get(host)) for host in batch["hosts"]]
        out.append(round(batch["end"] - batch["start"] - max(waits, default=0), 3))
    return out


def bench_rollout(count: int, pairs: int, requests: int, say) -> dict:
    bin_dir = ensure_ansible()
    lab.up(count)
    runs_dir = lab_config.LAB_ROOT / "bench-runs"
    tool, ansible, overheads = [], [], []
    for pair in range(pairs):
        for kind in ("tool", "ansible"):
            lab.reset()
            if kind == "tool":
                r = run_tool(count, runs_dir)
                if r["run_id"]:
                    overheads += overhead_per_batch(runs_dir, r["run_id"])
                tool.append(r)
            else:
                r = run_ansible(bin_dir, count, requests)
                ansible.append(r)
            say(f"rollout {count} hosts, pair {pair + 1}/{pairs}, {kind}: {r['wall_s']:.1f} s (exit {r['rc']})")
    lab.reset()
    t, a = [r["wall_s"] for r in tool], [r["wall_s"] for r in ansible]
    return {"hosts": count, "pairs": pairs, "requests": requests, "tool_runs": tool, "ansible_runs": ansible,
            "tool_s_median": median(t), "tool_s_range": spread(t), "ansible_s_median": median(a),
            "ansible_s_range": spread(a),
            # a run that refused or failed hosts did less work: no ratio from it
            "ratio": round(median(t) / median(a), 3) if t and a and all(r["rc"] == 0 for r in tool + ansible)
            else None,
            "overhead_s_per_batch": overheads, "overhead_s_per_batch_median": median(overheads),
            "tool_machine_cpu_s_median": median([r["machine_cpu_s"] for r in tool]),
            "ansible_machine_cpu_s_median": median([r["machine_cpu_s"] for r in ansible]),
            "tool_controller_cpu_s_median": median([r["controller_cpu_s"] for r in tool]),
            "ansible_controller_cpu_s_median": median([r["controller_cpu_s"] for r in ansible]),
            "ansible_version": ansible_version(bin_dir),
            "all_succeeded": all(r["rc"] == 0 for r in tool + ansible)}


# -- 3. the incident's table -------------------------------------------------------------------

def _verify(host: str, requests: int) -> dict:
    result = _child([*INVOKE, "verify", "--host", host, "--inventory", "inventory/lab.yml", "--requests",
                     str(requests), "--playbook", str(BENCH_PLAYBOOK), "--json", "-"])
    if result["rc"] != 0:
        raise LabError(f"bench: `invoke verify --host {host}` failed")
    return json.loads(result["stdout"])


def bench_incident(requests: int, say) -> dict:
    """Before (gevent) and after (remediated), one PostgreSQL and one MariaDB host, alone on the lab."""
    rows = {}
    for spec in lab.current_fleet()[:2]:  # lab1: supervisor + PostgreSQL, lab2: supervisor + MariaDB
        lab.reset([spec])
        before = _verify(spec.name, requests)
        rc = _child([*INVOKE, "remediate", "--host", spec.name, "--inventory", "inventory/lab.yml", "--yes",
                     "--playbook", str(BENCH_PLAYBOOK)],
                    env={"REMEDIATION_RUNS_DIR": str(lab_config.LAB_ROOT / "bench-runs")})["rc"]
        after = _verify(spec.name, requests)
        lab.reset([spec])
        rows[spec.database] = {"host": spec.name, "remediate_rc": rc, "before": before, "after": after}
        say(f"incident {spec.name} ({spec.database}): acquire p95 {before['metrics']['acquire_ms_p95']} -> "
            f"{after['metrics']['acquire_ms_p95_reused']} ms (reused), new DB connections "
            f"{before['metrics']['new_db_connections']} -> {after['metrics']['new_db_connections']} "
            f"per {requests} requests")
    return {"requests": requests, "delay_ms_one_way": lab.current_delay(), "rows": rows}


# -- the whole run -------------------------------------------------------------------------

def machine() -> dict:
    versions = {}
    for name in ("paramiko", "invoke", "fabric", "libcst"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - informational
            versions[name] = "?"
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version(), **versions}


def headline(results: dict) -> dict:
    """The one-line JSON the issue asks for (the largest inspect, the first rollout size); a
    section this run did not measure (`--only`) gives None for its figures."""
    inspect = (results.get("inspect") or [{}])[-1]
    roll = (results.get("rollout") or [{}])[0]
    rows = (results.get("incident") or {}).get("rows") or {}

    def worst(key: str, side: str):
        values = [r[side]["metrics"].get(key) for r in rows.values()]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    def per_100(side: str):
        total = sum(r[side]["metrics"].get("new_db_connections") or 0 for r in rows.values())
        count = sum(r[side]["metrics"].get("requests") or 0 for r in rows.values())
        return round(100 * total / count, 1) if count else None

    ssh = inspect.get("ssh_connections_per_host") or [None]
    return {
        "inspect_hosts": inspect.get("hosts"), "inspect_s": inspect.get("wall_s_median"),
        "ssh_connections_per_host": ssh[0] if len(ssh) == 1 else ssh,
        "controller_rss_mb": inspect.get("rss_mb_max"),
        "rollout_hosts": roll.get("hosts"), "rollout_s": roll.get("tool_s_median"),
        "ansible_s": roll.get("ansible_s_median"), "ratio_vs_ansible": roll.get("ratio"),
        "overhead_s_per_batch": roll.get("overhead_s_per_batch_median"),
        "acquire_ms_p95_before": worst("acquire_ms_p95", "before"),
        "acquire_ms_p95_after": worst("acquire_ms_p95_reused", "after"),
        "new_db_connections_per_100_before": per_100("before"),
        "new_db_connections_per_100_after": per_100("after"),
    }


SECTIONS = ("inspect", "rollout", "incident")


def run(quick: bool, say=print, only: tuple[str, ...] = SECTIONS, rollout_hosts: tuple[int, ...] | None = None,
        merge_into: dict | None = None) -> dict:
    """Measure the sections asked for; with merge_into, replace just those measurements in an
    earlier run's results (same inspect sizes / rollout sizes) and recompute the headline."""
    inspect_sizes = (10,) if quick else (10, 50, 100)
    rollout_sizes = rollout_hosts or ((10,) if quick else (10, 20))
    pairs = 1 if quick else 3
    requests = load_playbook(BENCH_PLAYBOOK).verify.requests  # Ansible times as many
    results: dict = merge_into or {"quick": quick, "inspect": [], "rollout": []}
    results["machine"] = machine()
    if "inspect" in only:
        measured = [bench_inspect(count, 1 if quick else 3, say) for count in inspect_sizes]
        results["inspect"] = _merged(results.get("inspect", []), measured)
        light.down()  # their memory back before the full lab grows
    if "rollout" in only:
        measured = [bench_rollout(count, pairs, requests, say) for count in rollout_sizes]
        results["rollout"] = _merged(results.get("rollout", []), measured)
    if "incident" in only:
        results["incident"] = bench_incident(20 if quick else 100, say)
    results["headline"] = headline(results)
    return results


def _merged(old: list[dict], new: list[dict]) -> list[dict]:
    by_hosts = {r["hosts"]: r for r in old}
    by_hosts.update({r["hosts"]: r for r in new})
    return [by_hosts[k] for k in sorted(by_hosts)]


def write_results_md(results: dict, path: Path = RESULTS_MD) -> None:
    m, h = results["machine"], results["headline"]
    lines = [
        "# Benchmark results", "",
        f"Written by `invoke bench` on {m['date']}: {m['cpus']} CPUs, {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}, paramiko {m['paramiko']}, invoke {m['invoke']}, fabric {m['fabric']}, "
        f"libcst {m['libcst']}; {results['rollout'][0]['ansible_version']}. Every lab host shares these CPUs "
        "with the controller.", "",
        "## Headline", "", "```json", json.dumps(h, indent=2), "```", "",
        "## Fleet inspect (`invoke inspect --limit all --fast`, light hosts, forks = hosts)", "",
        "| hosts | wall s (median) | min-max | controller CPU s | machine CPU s | CPU floor s (machine CPU / "
        "CPUs) | host-side CPU ms per host | SSH connections per host (sshd log) | controller peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["inspect"]:
        lines.append(f"| {r['hosts']} | {r['wall_s_median']} | {r['wall_s_range']} | {r['cpu_s_median']} | "
                     f"{r.get('machine_cpu_s_median', '-')} | {r.get('cpu_floor_s_median', '-')} | "
                     f"{r.get('host_side_cpu_ms_per_host_median', '-')} | "
                     f"{', '.join(map(str, r['ssh_connections_per_host']))} | {r['rss_mb_max']} |")
    lines += ["", "Host-side CPU is the machine's busy time minus the controller's: sshd, sudo and the agent on "
                  "each host. On a real fleet each host spends it on its own CPUs; here every host shares the "
                  "controller's."]
    lines += ["", "## Full rollout against Ansible (forks = hosts, broken state before every run, "
                  "runs alternate tool / Ansible)", "",
              "| hosts | pairs | tool s (median) | min-max | Ansible s (median) | min-max | ratio | "
              "tool overhead per batch s | machine CPU s, tool / Ansible | controller CPU s, tool / Ansible | "
              "all runs succeeded |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rollout"]:
        lines.append(f"| {r['hosts']} | {r['pairs']} | {r['tool_s_median']} | {r['tool_s_range']} | "
                     f"{r['ansible_s_median']} | {r['ansible_s_range']} | {r['ratio']} | "
                     f"{r['overhead_s_per_batch_median']} | "
                     f"{r.get('tool_machine_cpu_s_median', '-')} / {r.get('ansible_machine_cpu_s_median', '-')} | "
                     f"{r.get('tool_controller_cpu_s_median', '-')} / {r.get('ansible_controller_cpu_s_median', '-')} | "
                     f"{r['all_succeeded']} |")
    inc = results["incident"]
    lines += ["", f"## The incident (delay proxy {inc['delay_ms_one_way']} ms each way; {inc['requests']} timed "
                  "requests per side, one host at a time)", "",
              "| database | host | worker | request p50 ms | acquire p50 ms | acquire p95 ms | "
              "new DB connections per 100 requests |", "|---|---|---|---|---|---|---|"]
    for db, row in inc["rows"].items():
        for side in ("before", "after"):
            mt = row[side]["metrics"]
            acquire = mt["acquire_ms_p95"] if side == "before" else mt["acquire_ms_p95_reused"]
            per100 = (round(100 * mt["new_db_connections"] / mt["requests"], 1)
                      if mt.get("new_db_connections") is not None and mt.get("requests") else None)
            failed = side == "after" and row.get("remediate_rc") not in (0, None)
            note = f" (remediate exited {row['remediate_rc']}: not remediated)" if failed else ""
            lines.append(f"| {db} | {row['host']} | {mt['worker_class']} ({side}{note}) | {mt['request_ms_p50']} | "
                         f"{mt['acquire_ms_p50']} | {acquire}{' (reused)' if side == 'after' else ''} | {per100} |")
    lines += ["", "Acquisition after is the p95 over reused connections (the slowest k samples excluded, k = new "
                  "connections the DB server counted: first requests of each gthread pool thread pay one connect).",
              ""]
    path.write_text("\n".join(lines))
    write_readme_headline(results)


README = ROOT / "docs" / "benchmarks.md"  # the benchmark figures live there, between the markers
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def write_readme_headline(results: dict) -> None:
    """The README's benchmark lines, between its markers, from this run."""
    h, m = results["headline"], results["machine"]
    inspect = {r["hosts"]: r for r in results["inspect"]}
    lines = [README_START,
             f"Measured by `invoke bench` on {m['date']} ({m['cpus']} CPUs; every lab host shares them with the "
             "controller); details in [bench/results.md](bench/results.md).", "",
             "| figure | value |", "|---|---|"]
    for count, r in inspect.items():
        lines.append(f"| fleet inspect, {count} hosts (`--fast`) | {r['wall_s_median']} s "
                     f"(controller CPU {r['cpu_s_median']} s) |")
    lines += [f"| SSH connections per host per run (each host's sshd log) | {h['ssh_connections_per_host']} |",
              f"| controller peak RSS | {h['controller_rss_mb']} MB |"]
    for r in results["rollout"]:
        lines.append(f"| rollout of {r['hosts']} hosts: tool / Ansible (median of {r['pairs']} pair(s)) | "
                     f"{r['tool_s_median']} s / {r['ansible_s_median']} s (ratio {r['ratio']}) |")
    lines += [f"| tool overhead per batch | {h['overhead_s_per_batch']} s |",
              f"| acquisition p95 before -> after (reused) | {h['acquire_ms_p95_before']} -> "
              f"{h['acquire_ms_p95_after']} ms |",
              f"| new DB connections per 100 requests before -> after | "
              f"{h['new_db_connections_per_100_before']} -> {h['new_db_connections_per_100_after']} |",
              README_END]
    text = README.read_text()
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        README.write_text(head + "\n".join(lines) + rest.split(README_END, 1)[1])
