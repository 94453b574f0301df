"""supervisord: programs (and groups) in its config and the files it includes."""
from __future__ import annotations

import configparser
import posixpath
import re
import shlex

from remediation.errors import RestartError
from remediation.managers.base import Manager, StopBounds, seconds, signal_name, under
from remediation.model import RemoteFile, RestartMethod

STATUS_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)\s+(?:pid (?P<pid>\d+),)?")

SETTLE_SCRIPT = (
    'deadline=$(( $(date +%s) + $1 )); shift; '
    'while [ "$(date +%s)" -lt "$deadline" ]; do '
    'state=$("$@" 2>&1 | awk \'{print $2; exit}\'); '
    'case "$state" in STARTING|STOPPING|BACKOFF) sleep 0.3;; *) echo "$state"; exit 0;; esac; done; '
    'echo "$state"; exit 1'
)


def program_in_status(status: str, pid: int) -> str | None:
    """The program `supervisorctl status` shows with this pid ("prog", or "group:prog")."""
    for line in status.splitlines():
        match = STATUS_LINE.match(line)
        if match and match.group("pid") and int(match.group("pid")) == pid:
            name = match.group("name")
            group, _, proc = name.partition(":")
            return name if proc and proc != group else group
    return None


def includes(main_conf: str, text: str) -> list[str]:
    """Glob patterns of a supervisord.conf's [include] files=, as absolute paths."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    if not parser.has_option("include", "files"):
        return []
    base = posixpath.dirname(main_conf)
    return [posixpath.normpath(posixpath.join(base, pattern)) for pattern in parser.get("include", "files").split()]


def program_log(files: dict[str, RemoteFile], program: str | None) -> str | None:
    """The program's stdout_logfile, from whichever read file defines [program:NAME] (a program
    in a group is `group:NAME` to supervisorctl, its section is still [program:NAME]): only when
    supervisord's socket could not be asked (an AUTO name is known to supervisord alone)."""
    return program_option(files, program, "stdout_logfile")


def program_option(files: dict[str, RemoteFile], program: str | None, option: str) -> str | None:
    """An option of [program:NAME] in whichever read file defines it (None: unset or not found)."""
    if not program:
        return None
    program = program.split(":")[-1]
    for remote_file in files.values():
        text = remote_file.text
        if not text or f"[program:{program}]" not in text:
            continue
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        if parser.has_option(f"program:{program}", option):
            return parser.get(f"program:{program}", option).strip()
    return None


def gunicorn_log(log_files: dict) -> str | None:
    """The file gunicorn's own lines land in, from what supervisord says of the program: gunicorn
    logs to stderr by default, so its stderr file (an AUTO name included), else stdout's (where
    redirect_stderr sends stderr: supervisord then reports no stderr file); None: NONE for both."""
    return log_files.get("stderr_logfile") or log_files.get("stdout_logfile") or None


class Supervisor(Manager):
    PROBE = "remediation.managers.supervisor.probe"
    KIND = "supervisor"
    LABEL = "supervisor"
    INVENTORY_VARS = ("remediation_supervisor_program",)

    def detect(self, master, compose_clis):
        sup = master.get("supervisor")
        if not sup:
            return None
        # a program run through a wrapper (sh -c, gosu) has the wrapper's pid in the status
        pids = [master["pid"]] + [a["pid"] for a in master.get("ancestors", [])]
        program = sup.get("program") or next((p for p in (program_in_status(sup["status"], pid) for pid in pids)
                                              if p), None)
        return RestartMethod(self.KIND, program=program, config_files=[sup["config"]] if sup.get("config") else [],
                             log_files=sup.get("logs"))

    def more_globs(self, method, files):
        out = []
        for conf in method.config_files:
            text = files.get(conf) and files[conf].text
            out += includes(conf, text or "")
        return out

    def log_source(self, method, files):
        path = gunicorn_log(method.log_files) if method.log_files is not None else program_log(files, method.program)
        return {"kind": "file", "path": path, "key": "app"} if path else None

    def stop_bounds(self, method, files, graceful_timeout):
        """supervisord's stop of the program: stopsignal (TERM) and stopwaitsecs (10) from the
        program's section in the files supervisord loads, its defaults where unset."""
        signal = program_option(files, method.program, "stopsignal")
        wait = program_option(files, method.program, "stopwaitsecs")
        return StopBounds(graceful_timeout, signal_name(signal) or "TERM", seconds(wait) if wait else 10.0,
                          "supervisor stopsignal / stopwaitsecs")

    def owns_file(self, method, path):
        # programs live in files the main config includes, beside it
        return path in method.config_files or any(under(path, posixpath.dirname(c)) for c in method.config_files)

    def check_inventory(self, method, host_vars):
        program = host_vars.get("remediation_supervisor_program")
        if program and method.program not in (program, None) and method.program.split(":")[-1] != program:
            return [f"supervisor runs gunicorn as program {method.program!r}, the inventory says {program!r}"]
        return []

    def ctl(self, method: RestartMethod) -> list[str]:
        return ["supervisorctl"] + (["-c", method.config_files[0]] if method.config_files else [])

    def restart_argvs(self, method, changed):
        if not method.program:
            raise RestartError("supervisor manages gunicorn but its program name was not found in `status`")
        conf_dirs = {posixpath.dirname(p) for p in method.config_files}
        # program files are .conf or .ini (RHEL/CentOS: /etc/supervisord.d/*.ini)
        program_changed = any(p.endswith((".conf", ".ini")) and (posixpath.dirname(p) in conf_dirs or "/supervisor" in p)
                              for p in changed)
        if program_changed:  # `restart` would keep the old command=; reread + update applies it
            return [self.ctl(method) + ["reread"], self.ctl(method) + ["update", method.program.split(":")[0]]]
        return [self.ctl(method) + ["restart", method.program]]

    def settle(self, remote, method: RestartMethod, timeout_s: int) -> str:
        """Wait until the program is out of STARTING/STOPPING/BACKOFF; returns its state.

        `supervisorctl restart` on a program still STARTING reports an abnormal termination,
        so a restart right after another one (a rollback, a second run) must wait first."""
        result = remote.run(["sudo", "-n", "sh", "-c", SETTLE_SCRIPT, "sh", str(timeout_s), *self.ctl(method),
                             "status", method.program], timeout=timeout_s + 30, check=False)
        return result.stdout.strip()

    def restart_over_rpc(self, remote, method: RestartMethod, argvs: list[list[str]], timeout_s: int) -> bool:
        """A plain `supervisorctl restart` done by the agent on supervisord's XML-RPC socket, settling
        included (no supervisorctl start: ~0.3 s of CPU each, three per restart). False when the socket
        cannot be used; raises when supervisord could not restart the program."""
        if not method.program or not method.config_files or [argv[-2:] for argv in argvs] != [["restart", method.program]]:
            return False  # reread + update (a changed program file) stays with supervisorctl
        reply = remote.supervisor_restart(method.config_files[0], method.program, timeout=timeout_s,
                                          wait=3 * timeout_s + 30)
        if reply.get("unavailable"):
            return False
        if not reply.get("ok"):
            detail = reply.get("error") or f"it is {reply.get('state') or 'in an unknown state'} after the restart"
            raise RestartError(f"supervisor could not restart {method.program}: {detail}")
        return True

    def restart(self, remote, method, changed, timeout_s):
        argvs = self.restart_argvs(method, changed)
        if self.restart_over_rpc(remote, method, argvs, timeout_s):
            return [shlex.join(argv) + "  (through supervisord's XML-RPC socket)" for argv in argvs]
        self.settle(remote, method, timeout_s)
        ran = []
        for argv in argvs:
            remote.run(argv, sudo=True, timeout=timeout_s + 60)
            ran.append(shlex.join(argv))
        state = self.settle(remote, method, timeout_s)
        if state != "RUNNING":
            raise RestartError(f"supervisor program {method.program} is {state or 'unknown'} after the restart")
        return ran
