"""Ansible as the oracle: read many inventories in one process, as `ansible-inventory --list`
and `ansible -i INV PATTERN --list-hosts` read them (test environment only).

Run with ANSIBLE_INVENTORY_UNPARSED_FAILED=1 so a source Ansible cannot parse is an error.
stdin: a JSON list (or with --serve, one case a line) of {"sources": [paths], "patterns": [patterns]}; stdout: a JSON list of
{"hosts": {name: vars}, "groups": {name: {"hosts": [...], "children": [...]}},
 "patterns": {pattern: [hosts] or {"error": text}}} or {"error": text}."""
import json
import os
import sys
import warnings

ANSWERS = os.fdopen(os.dup(1), "w")  # answers only; whatever Ansible prints goes to stderr
os.dup2(2, 1)
sys.stdout = sys.stderr

warnings.filterwarnings("ignore")

from ansible import context  # noqa: E402
from ansible.module_utils.common.collections import ImmutableDict  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

INTERNAL = {'ansible_diff_mode', 'ansible_config_file', 'ansible_facts', 'ansible_forks',
            'ansible_inventory_sources', 'ansible_limit', 'ansible_playbook_python', 'ansible_run_tags',
            'ansible_skip_tags', 'ansible_verbosity', 'ansible_version', 'inventory_dir', 'inventory_file',
            'inventory_hostname', 'inventory_hostname_short', 'groups', 'group_names', 'omit', 'playbook_dir',
            'ansible_check_mode', 'ansible_run_tags'}


def native(value):
    if isinstance(value, dict):
        return {str(k): native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [native(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def one(case):
    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=case["sources"])
    vm = VariableManager(loader=loader, inventory=inv)
    hosts = {}
    for host in inv.get_hosts():
        hv = vm.get_vars(host=host, include_hostvars=False, stage="all")
        hosts[host.name] = native({k: v for k, v in hv.items() if k not in INTERNAL})
    groups = {name: {"hosts": sorted(h.name for h in g.get_hosts()), "children": sorted(c.name for c in g.child_groups)}
              for name, g in inv.groups.items()}
    patterns = {}
    for pattern in case.get("patterns", []):
        inv.clear_pattern_cache()
        try:
            if pattern.startswith("@"):
                inv.subset(pattern)
                patterns[pattern] = [h.name for h in inv.list_hosts("all")]
                inv.subset(None)
            else:
                patterns[pattern] = [h.name for h in inv.list_hosts(pattern)]
        except Exception as exc:  # noqa: BLE001
            patterns[pattern] = {"error": str(exc)}
    return {"hosts": hosts, "groups": groups, "patterns": patterns}


def main():
    context.CLIARGS = ImmutableDict({"verbosity": 0})
    if sys.argv[1:] == ["--serve"]:  # one JSON case a line in, one JSON answer a line out
        for line in sys.stdin:
            try:
                answer = one(json.loads(line))
            except Exception as exc:  # noqa: BLE001
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            ANSWERS.write(json.dumps(answer) + "\n")
            ANSWERS.flush()
        return
    out = []
    for case in json.load(sys.stdin):
        try:
            out.append(one(case))
        except Exception as exc:  # noqa: BLE001
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(out, ANSWERS)
    ANSWERS.flush()


if __name__ == "__main__":
    main()
