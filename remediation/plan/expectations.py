"""What the inventory says a host runs, checked against what the tool found there (pure).

`remediation_app_dir`, `remediation_supervisor_program`, `remediation_compose_file` and
`remediation_compose_service` are optional. When set, they are the operator's statement
of the host: a live process that disagrees means the wrong host or a stale inventory, and
no file outside the app directory is written (but the restart manager's own config files,
which the live process's manager reads, e.g. /etc/supervisor/conf.d/app.conf or a unit's
EnvironmentFile=, the gunicorn config the live process names on its command line, and the settings
files its own settings import ran, a module on PYTHONPATH outside the app directory included).
"""
from __future__ import annotations

from remediation import managers
from remediation.facts.gather import loaded_settings
from remediation.facts.parse import config_file
from remediation.managers.base import under
from remediation.plan.inspection import absolute

def mismatches(host_vars: dict, ins) -> list[str]:
    """One line per disagreement between the inventory and the host (empty when none or unset)."""
    out = []
    master = ins.gathered.master
    method = master.restart
    manager = managers.of(method)
    app_dir = host_vars.get("remediation_app_dir")
    if app_dir:
        cwd = master.host_path(master.cwd) if master.cwd else None
        # the app's code is where the process imports it from: its working directory, or the import
        # root that holds its WSGI module (a unit without WorkingDirectory= runs in / with the code on PYTHONPATH)
        code = ins.gathered.code_root
        if cwd and not under(cwd, app_dir) and not (code and under(code, app_dir)):
            out.append(f"gunicorn (pid {master.pid}) runs in {cwd}{f' with its app from {code}' if code else ''}, "
                       f"not under remediation_app_dir {app_dir}: wrong host or stale inventory")
        # the config file the live process names on its own command line is its own, wherever it is
        config, _how = config_file(master)
        process_reads = ({master.host_path(config)} if config else set()) | set(loaded_settings(ins.gathered))
        for rel in sorted(ins.audit.patched):
            path = absolute(rel)
            remote_file = ins.gathered.files.get(path)
            real = (remote_file.realpath if remote_file is not None and remote_file.realpath else path)
            if manager.owns_file(method, path) or path in process_reads:
                continue
            if not under(path, app_dir) or not under(real, app_dir):
                out.append(f"{path} is outside remediation_app_dir {app_dir}: not written")
    facts = getattr(ins.gathered, "facts", None)
    if facts is not None and len(facts.masters) > 1:  # the manager vars state a host's one app: not several
        return out
    out += manager.check_inventory(method, host_vars)
    for other in managers.REGISTRY:  # vars that name another manager than the one running gunicorn
        if other is not manager and method.kind != "unknown" and any(host_vars.get(v) for v in other.INVENTORY_VARS):
            out.append(f"gunicorn is managed by {method.kind}, not what the inventory says")
            break
    return out
