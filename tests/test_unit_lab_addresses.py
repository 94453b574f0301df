"""The single-purpose lab modules each bring up varied hosts of fixed numbers (var<N>, one address
each on the lab bridge): no two modules may share a number, nor fall in the range the varied
fleets' own draws use, or two lab tests would fight over one namespace and address."""
from __future__ import annotations

from lab import app_hosts, compose_project_dir, podman_apps, template_unit, variety, vendor_unit


def test_fixed_lab_hosts_have_numbers_of_their_own_above_the_varied_fleets():
    owners: dict[int, list[str]] = {}
    fixed = {"template_unit": [template_unit.INDEX], "vendor_unit": [vendor_unit.INDEX],
             "compose_project_dir": [compose_project_dir.INDEX], "podman_apps": [podman_apps.INDEX],
             "app_hosts": [host.index for host in app_hosts.HOSTS.values()]}
    for module, indexes in fixed.items():
        for index in indexes:
            owners.setdefault(index, []).append(module)
    shared = {index: names for index, names in owners.items() if len(names) > 1}
    assert not shared, f"lab host numbers used twice: {shared}"
    assert min(owners) > variety.MAX_HOSTS - 5, (min(owners), variety.MAX_HOSTS)
    assert max(owners) <= 254 - variety.FIRST_OCTET + 1  # still an address on the /24
