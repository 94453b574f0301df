"""Write the lab fleet as an Ansible YAML inventory (inventory/lab.yml)."""
from __future__ import annotations

from pathlib import Path

import yaml

from lab import config
from lab.config import HostSpec

INVENTORY_PATH = Path(__file__).resolve().parents[1] / "inventory" / "lab.yml"
HEADER = "# Written by `invoke lab.up`: the lab fleet, in Ansible's YAML inventory format.\n"


def fleet_vars(known_hosts) -> dict:
    """The `all:` vars every lab inventory (main, light, varied) shares."""
    return {"ansible_user": config.LOGIN_USER, "ansible_port": 22,
            "ansible_ssh_private_key_file": str(config.PRIVATE_KEY),
            "remediation_known_hosts_file": str(known_hosts), "remediation_app_port": config.APP_PORT,
            # the lab app's page that queries the database (the default playbook names none)
            "remediation_verify_path": config.VERIFY_PATH}


def host_vars(spec: HostSpec) -> dict:
    """A lab host's inventory statements: its address, app dir and manager (systemd states none)."""
    host = {"ansible_host": spec.address, "remediation_app_dir": "/srv/app"}
    if spec.restart == "supervisor":
        host["remediation_supervisor_program"] = "schoolsite"
    elif spec.restart == "compose":
        host["remediation_compose_file"] = "/srv/app/docker-compose.yml"
        host["remediation_compose_service"] = "web"
    return host


def lab_inventory(specs: list[HostSpec]) -> dict:
    groups: dict[str, dict] = {"supervisor": {}, "compose": {}, "postgres": {}, "mariadb": {}}
    for spec in specs:
        groups[spec.restart][spec.name] = host_vars(spec)
        groups[spec.database][spec.name] = None
    return {"all": {"vars": fleet_vars(config.KNOWN_HOSTS),
                    "children": {name: {"hosts": hosts} for name, hosts in groups.items()}}}


def write_lab_inventory(specs: list[HostSpec], path: Path = INVENTORY_PATH) -> Path:
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(HEADER + yaml.safe_dump(lab_inventory(specs), sort_keys=False, default_flow_style=False))
    tmp.replace(path)
    return path


def remove_lab_inventory(path: Path = INVENTORY_PATH) -> None:
    path.unlink(missing_ok=True)
