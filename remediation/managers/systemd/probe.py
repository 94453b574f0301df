"""systemd's host side (stdlib only, bundled into the host agent): the unit a master runs under
(its cgroup) and how systemd loads it (`systemctl show`), and the journal as a log source."""
import re

from remediation.agent.core import log_kind, master_probe, read_proc, run


def systemd_unit_of(pid):
    text = (read_proc(pid, "cgroup") or b"").decode("utf-8", "replace")
    match = re.search(r"/([^/\s]+\.service)", text)
    return match.group(1) if match else None


SYSTEMD_PROPS = ("Id", "FragmentPath", "DropInPaths", "EnvironmentFiles", "MainPID", "ExecStart",
                 "TimeoutStopUSec", "KillSignal", "KillMode")  # the last three: how it stops the service


def systemd_show(unit):
    """How systemd itself loads `unit` (`systemctl show`): its unit file and drop-ins in the order
    it applies them, its environment files (specifiers expanded; `optional` for a `-` one), its
    main pid and command line; None when systemctl cannot answer."""
    res = run(["systemctl", "show", unit, "--property=" + ",".join(SYSTEMD_PROPS)], timeout=30)
    if res["rc"] != 0:
        return None
    info = {"id": unit, "fragment": None, "dropins": [], "env_files": [], "main_pid": None, "exec_start": None}
    for line in res["stdout"].splitlines():
        key, _, value = line.partition("=")
        if key == "Id":
            info["id"] = value
        elif key == "FragmentPath":
            info["fragment"] = value or None
        elif key == "DropInPaths":
            info["dropins"] = value.split()
        elif key == "EnvironmentFiles" and value:
            path, _, flags = value.partition(" (")
            info["env_files"].append({"path": path, "optional": "ignore_errors=yes" in flags})
        elif key == "MainPID":
            info["main_pid"] = int(value) if value.isdigit() else None
        elif key == "ExecStart" and "argv[]=" in value:
            info["exec_start"] = value.split("argv[]=", 1)[1].split(" ;", 1)[0]
        elif key in ("TimeoutStopUSec", "KillSignal", "KillMode"):
            info.setdefault("stop", {})[key] = value
    return info


@master_probe
def probe_systemd(master, context):
    """The unit whose cgroup holds the master, and how systemd loads it when systemd (pid 1) is
    an ancestor."""
    master["systemd_unit"] = systemd_unit_of(master["pid"])
    if master["systemd_unit"] and any(a["pid"] == 1 and "systemd" in a["name"] for a in master["ancestors"]):
        master["systemd"] = systemd_show(master["systemd_unit"])


@log_kind("journal")
def journal_log(item, req):
    """The unit's journal: its last lines, or what it logged since a time."""
    argv = ["journalctl", "--no-pager", "-o", "cat", "-u", item["unit"]]
    if item.get("since"):
        argv += ["--since", "@%.3f" % item["since"]]
    else:
        argv += ["-n", str(req.get("lines", 400))]
    res = run(argv, timeout=30)
    return res["stdout"] if res["rc"] == 0 else {"error": res["stderr"].strip() or "journalctl failed"}
