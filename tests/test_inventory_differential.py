"""Inventories read as Ansible reads them, proved against ansible-core itself.

Hypothesis builds inventories (YAML or INI, one or two sources, host ranges and `host:port`,
groups nested or defined elsewhere and referenced under `children`, vars at every level,
ansible_group_priority, group_vars/host_vars as files or directories in yml/yaml/json/no
extension) and host patterns; the tool and Ansible must give the same hosts, groups (each
with all its hosts), merged vars and pattern selections, or both refuse the inventory."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_diff import compare, oracle, ours  # noqa: F401  (oracle is a fixture)

EXAMPLES = int(__import__("os").environ.get("INVENTORY_DIFF_EXAMPLES", "600"))
GROUPS = ["web", "db", "prod", "stage", "eu", "canary", "app_1", "zz"]
HOSTS = ["h1", "h2", "h3", "web01", "db-1", "h2.example.com"]
RANGES = ["node[1:3]", "n[a:c]", "r[01:10:4]", "h[1:2]"]
VARNAMES = ["v0", "v1", "v2", "level", "ansible_user"]
WORDS = ["alpha", "beta", "yes", "prod", "x1"]

values = st.one_of(st.integers(-5, 300), st.sampled_from(WORDS), st.booleans(),
                   st.lists(st.integers(0, 9), max_size=3), st.none())
var_maps = st.dictionaries(st.sampled_from(VARNAMES), values, max_size=3)


@st.composite
def inventories(draw):
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=6, unique=True))
    edges = set()
    for i, parent in enumerate(groups):  # a DAG: parents come before children in `groups`
        for child in groups[i + 1:]:
            if draw(st.integers(0, 3)) == 0:
                edges.add((parent, child))
    members = []
    for _ in range(draw(st.integers(1, 8))):
        host = draw(st.sampled_from(HOSTS + RANGES))
        port = draw(st.sampled_from([None, None, None, 2222]))
        members.append((draw(st.sampled_from(groups + ["all"])), host, port, draw(var_maps)))
    group_vars = {g: draw(var_maps) for g in groups + ["all"]}
    priority = {g: draw(st.integers(1, 3)) for g in groups if draw(st.integers(0, 4)) == 0}
    gv_files = {g: (draw(st.sampled_from([".yml", ".yaml", ".json", "", "/"])), draw(var_maps))
                for g in groups + ["all"] if draw(st.integers(0, 3)) == 0}
    host_names = sorted({m[1] for m in members if "[" not in m[1]})
    hv_files = {h: (draw(st.sampled_from([".yml", ".json", "/"])), draw(var_maps))
                for h in host_names if draw(st.integers(0, 3)) == 0}
    fmt = draw(st.sampled_from(["yaml", "ini", "yaml", "ini-noext", "yaml-noext"]))
    split = draw(st.integers(0, 3)) == 0
    homes = {}
    for g in groups:
        parents = [p for p, c in edges if c == g]
        homes[g] = draw(st.sampled_from(["top"] + parents)) if parents else "top"
    terms = groups + host_names + ["all", "h*", "*1", "~h[12]", "~(web|db)", "w?b*", "node[0]", "web[1:]",
                                   "prod[0]", "nosuch"]
    pats = []
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.tuples(st.sampled_from(["", "", "&", "!"]), st.sampled_from(terms)),
                              min_size=1, max_size=3))
        pats.append(":".join(op + t for op, t in parts))
    return dict(groups=groups, edges=sorted(edges), members=members, group_vars=group_vars, priority=priority,
                gv_files=gv_files, hv_files=hv_files, fmt=fmt, split=split, homes=homes, patterns=pats)


def _vars_of(case, g):
    out = dict(case["group_vars"][g])
    if g in case["priority"]:
        out["ansible_group_priority"] = case["priority"][g]
    return out


def render_yaml(case, groups_here):
    def body(g):
        b = {}
        hosts = {(h if not p else f"{h}:{p}"): (v or None) for grp, h, p, v in case["members"] if grp == g}
        if hosts:
            b["hosts"] = hosts
        if _vars_of(case, g):
            b["vars"] = _vars_of(case, g)
        kids = {c: (body(c) if case["homes"].get(c) == g else None) for p, c in case["edges"] if p == g}
        if kids:
            b["children"] = kids
        return b or None

    doc = {}
    if "all" in groups_here:
        doc["all"] = body("all")
    for g in case["groups"]:
        if g in groups_here and case["homes"][g] == "top":
            doc[g] = body(g)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def ini_value(v):
    if isinstance(v, list):
        return "[" + ",".join(map(str, v)) + "]"
    return str(v)


def render_ini(case, groups_here):
    lines = []
    for grp, h, p, v in case["members"]:
        if grp == "all" and "all" in groups_here:
            lines.append(" ".join([h if not p else f"{h}:{p}"] + [f"{k}={ini_value(x)}" for k, x in v.items()]))
    for g in ["all"] + case["groups"]:
        if g not in groups_here:
            continue
        if g != "all":
            lines.append(f"[{g}]")
            for grp, h, p, v in case["members"]:
                if grp == g:
                    lines.append(" ".join([h if not p else f"{h}:{p}"] + [f"{k}={ini_value(x)}" for k, x in v.items()]))
        if _vars_of(case, g):
            lines.append(f"[{g}:vars]")
            lines += [f"{k}={ini_value(x)}" for k, x in _vars_of(case, g).items()]
        kids = [c for p, c in case["edges"] if p == g]
        if kids:
            lines.append(f"[{g}:children]")
            lines += kids
    return "\n".join(lines) + "\n"


def write_vars(directory: Path, name: str, ext: str, values: dict):
    directory.mkdir(parents=True, exist_ok=True)
    if ext == "/":
        (directory / name).mkdir(exist_ok=True)
        keys = list(values)
        (directory / name / "10-a.yml").write_text(yaml.safe_dump({k: values[k] for k in keys[::2]}))
        (directory / name / "20-b.json").write_text(json.dumps({k: values[k] for k in keys[1::2]}))
    elif ext == ".json":
        (directory / (name + ext)).write_text(json.dumps(values))
    else:
        (directory / (name + ext)).write_text(yaml.safe_dump(values) if values else "")


def materialize(case, root: Path) -> list[str]:
    fmt = case["fmt"]
    ext = {"yaml": ".yml", "ini": ".ini", "ini-noext": "", "yaml-noext": ""}[fmt]
    render = render_yaml if fmt.startswith("yaml") else render_ini
    everything = ["all"] + case["groups"]
    if case["split"] and len(everything) > 1:
        first, second = everything[: len(everything) // 2], everything[len(everything) // 2:]
        (root / "a").mkdir()
        (root / "b").mkdir()
        files = [root / "a" / f"hosts{ext}", root / "b" / f"more{ext}"]
        files[0].write_text(render(case, first))
        files[1].write_text(render(case, second))
    else:
        files = [root / f"inventory{ext}"]
        files[0].write_text(render(case, everything))
    base = files[-1].parent
    for g, (gext, values) in case["gv_files"].items():
        write_vars(base / "group_vars", g, gext, values)
    for h, (hext, values) in case["hv_files"].items():
        write_vars(base / "host_vars", h, hext, values)
    return [str(f) for f in files]


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=inventories())
def test_generated_inventories_read_as_ansible_reads_them(oracle, case):  # noqa: F811
    root = Path(tempfile.mkdtemp(prefix="inv-diff-"))
    try:
        sources = materialize(case, root)
        theirs = oracle.ask(sources, case["patterns"])
        mine = ours(sources, case["patterns"])
        if os.environ.get("INVENTORY_DIFF_STATS"):
            with open(os.environ["INVENTORY_DIFF_STATS"], "a") as fh:
                fh.write(json.dumps({"fmt": case["fmt"], "split": case["split"], "error": "error" in theirs,
                                     "hosts": len(theirs.get("hosts", {})),
                                     "vars": sum(len(v) for v in theirs.get("hosts", {}).values()),
                                     "selected": sum(len(v) for v in theirs.get("patterns", {}).values()
                                                     if isinstance(v, list))}) + "\n")
        text = "\n".join(f"--- {s}\n{Path(s).read_text()}" for s in sources)
        try:
            compare(mine, theirs, f"{text}")
        except AssertionError:
            keep = Path(tempfile.gettempdir()) / "inv-diff-failed"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(root, keep)
            (keep / "case.json").write_text(json.dumps({"sources": sources, "patterns": case["patterns"],
                                                        "ours": mine, "ansible": theirs}, default=str, indent=1))
            raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
