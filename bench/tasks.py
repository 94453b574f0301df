"""`invoke bench`: measure the tool on the lab (and Ansible beside it); see remediation/bench.py."""
from __future__ import annotations

import json as jsonlib
import sys

from invoke import Exit, task

from remediation.console import err_console
from lab.sh import LabError


@task(help={"quick": "10 hosts, one tool/Ansible pair, 20 incident requests (a few minutes)",
            "json": "'-' prints the headline JSON on stdout (progress goes to stderr); a path writes it there",
            "write": "write bench/results.md (default: on a full run only)",
            "only": "comma-separated sections to measure: inspect, rollout, incident (default: all)",
            "rollout_hosts": "comma-separated rollout sizes (default 10,20; quick: 10)",
            "merge": "replace only the measured sections in bench/results.json, then rewrite results.md",
            "render": "measure nothing: rewrite bench/results.md and the README's figures from bench/results.json"})
def bench(c, quick=False, json=None, write=None, only=None, rollout_hosts=None, merge=False, render=False):
    """Fleet inspect at 10/50/100 hosts, rollout vs Ansible at 10/20, the incident's table, overhead."""
    from bench import run as runner

    if render:
        try:
            runner.write_results_md(jsonlib.loads(runner.RESULTS_MD.with_suffix(".json").read_text()))
        except (FileNotFoundError, ValueError):
            raise Exit("bench: --render needs bench/results.json from an earlier run", code=2) from None
        return

    sections = tuple(s.strip() for s in only.split(",")) if only else runner.SECTIONS
    unknown = set(sections) - set(runner.SECTIONS)
    if unknown:
        raise Exit(f"bench: --only: unknown section(s) {', '.join(sorted(unknown))} "
                   f"(known: {', '.join(runner.SECTIONS)})", code=2)
    sizes = tuple(int(n) for n in rollout_hosts.split(",")) if rollout_hosts else None
    earlier = None
    if merge:
        try:
            earlier = jsonlib.loads(runner.RESULTS_MD.with_suffix(".json").read_text())
        except (FileNotFoundError, ValueError):
            raise Exit("bench: --merge needs bench/results.json from an earlier full run", code=2) from None
    try:
        results = runner.run(bool(quick), say=lambda line: err_console.print(line, markup=False, highlight=False),
                             only=sections, rollout_hosts=sizes, merge_into=earlier)
    except LabError as exc:
        raise Exit(f"bench: {exc}", code=1) from None
    if write if write is not None else (not quick or merge):
        runner.write_results_md(results)
        (runner.RESULTS_MD.with_suffix(".json")).write_text(jsonlib.dumps(results, indent=2, default=str) + "\n")
    text = jsonlib.dumps(results["headline"])
    if json == "-":
        sys.stdout.write(text + "\n")
    elif json:
        with open(json, "w") as fh:
            fh.write(text + "\n")
    else:
        err_console.print_json(text)
