"""Restart the app the way that really applies a change (domain.md, pre-flight check 5)."""
from __future__ import annotations

import posixpath
import shlex

from remediation.facts.parse import RestartMethod
from remediation.transport.remote import Remote, RemoteError


class RestartError(RemoteError):
    """The restart command failed or the app did not serve again in time."""


def restart_argvs(method: RestartMethod, changed: list[str]) -> list[list[str]]:
    """The commands (run under sudo) that apply `changed` host paths to the running app."""
    if method.kind == "supervisor":
        ctl = ["supervisorctl"] + (["-c", method.config_files[0]] if method.config_files else [])
        program = method.program
        if not program:
            raise RestartError("supervisor manages gunicorn but its program name was not found in `status`")
        conf_dirs = {posixpath.dirname(p) for p in method.config_files}
        # program files are .conf or .ini (RHEL/CentOS: /etc/supervisord.d/*.ini)
        program_changed = any(p.endswith((".conf", ".ini")) and (posixpath.dirname(p) in conf_dirs or "/supervisor" in p)
                              for p in changed)
        if program_changed:  # `restart` would keep the old command=; reread + update applies it
            return [ctl + ["reread"], ctl + ["update", program.split(":")[0]]]  # update takes the group
        return [ctl + ["restart", program]]
    if method.kind == "docker-compose":
        if not method.cli:
            raise RestartError("neither `docker compose` nor `docker-compose` is installed on the host")
        if not method.program:
            raise RestartError("docker-compose manages gunicorn but its service name was not found in the "
                               "container's labels")
        base = list(method.cli)
        for path in method.config_files:
            base += ["-f", path]
        if method.project:
            base += ["-p", method.project]
        if method.working_dir:
            base += ["--project-directory", method.working_dir]
        compose_changed = any(p in method.config_files for p in changed)
        if compose_changed:  # `restart` does not apply compose-file changes; `up -d` recreates
            return [base + ["up", "-d", "--no-deps", method.program]]
        return [base + ["restart", method.program]]
    if method.kind == "systemd":
        unit = method.program
        if not unit:
            raise RestartError("systemd manages gunicorn but its unit was not found")
        argvs = [["systemctl", "daemon-reload"]] if any(p.endswith((".service", ".conf")) for p in changed) else []
        return argvs + [["systemctl", "restart", unit]]
    raise RestartError(f"cannot restart gunicorn managed by {method.kind!r}: restart it by hand")


WAIT_SCRIPT = (
    'url=$1; deadline=$(( $(date +%s) + $2 )); '
    'while [ "$(date +%s)" -lt "$deadline" ]; do '
    'code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$url"); '
    '[ "$code" = 200 ] && exit 0; sleep 0.3; done; echo "last HTTP status: $code"; exit 1'
)


def wait_serving(remote: Remote, url: str, timeout_s: int) -> None:
    """Poll the health URL on the host until it answers 200 (one round trip)."""
    result = remote.run(["sh", "-c", WAIT_SCRIPT, "sh", url, str(timeout_s)], timeout=timeout_s + 30, check=False)
    if result.rc != 0:
        raise RestartError(f"app did not serve {url} within {timeout_s}s ({result.stdout.strip() or 'no answer'})")


SETTLE_SCRIPT = (
    'deadline=$(( $(date +%s) + $1 )); shift; '
    'while [ "$(date +%s)" -lt "$deadline" ]; do '
    'state=$("$@" 2>&1 | awk \'{print $2; exit}\'); '
    'case "$state" in STARTING|STOPPING|BACKOFF) sleep 0.3;; *) echo "$state"; exit 0;; esac; done; '
    'echo "$state"; exit 1'
)


def settle_supervisor(remote: Remote, method: RestartMethod, timeout_s: int) -> str:
    """Wait until supervisor's program is out of STARTING/STOPPING/BACKOFF; returns its state.

    `supervisorctl restart` on a program still STARTING reports an abnormal termination,
    so a restart right after another one (a rollback, a second run) must wait first."""
    ctl = ["supervisorctl"] + (["-c", method.config_files[0]] if method.config_files else [])
    result = remote.run(["sudo", "-n", "sh", "-c", SETTLE_SCRIPT, "sh", str(timeout_s), *ctl, "status", method.program],
                        timeout=timeout_s + 30, check=False)
    return result.stdout.strip()


def restart_over_rpc(remote: Remote, method: RestartMethod, argvs: list[list[str]], timeout_s: int) -> bool:
    """A plain `supervisorctl restart` done by the agent on supervisord's XML-RPC socket, settling
    included (no supervisorctl start: ~0.3 s of CPU each, three per restart). False when the socket
    cannot be used; raises when supervisord could not restart the program."""
    if method.kind != "supervisor" or not method.program or not method.config_files \
            or [argv[-2:] for argv in argvs] != [["restart", method.program]]:
        return False  # reread + update (a changed program file) stays with supervisorctl
    reply = remote.agent({"op": "supervisor_restart", "config": method.config_files[0], "program": method.program,
                          "timeout": timeout_s}, timeout=3 * timeout_s + 30)[0]
    if reply.get("unavailable"):
        return False
    if not reply.get("ok"):
        detail = reply.get("error") or f"it is {reply.get('state') or 'in an unknown state'} after the restart"
        raise RestartError(f"supervisor could not restart {method.program}: {detail}")
    return True


def restart(remote: Remote, method: RestartMethod, changed: list[str], url: str, timeout_s: int) -> list[str]:
    """Run the restart commands, then wait until the app serves. Returns the commands run."""
    argvs = restart_argvs(method, changed)
    if restart_over_rpc(remote, method, argvs, timeout_s):
        wait_serving(remote, url, timeout_s)
        return [shlex.join(argv) + "  (through supervisord's XML-RPC socket)" for argv in argvs]
    ran = []
    if method.kind == "supervisor" and method.program:
        settle_supervisor(remote, method, timeout_s)
    for argv in argvs:
        remote.run(argv, sudo=True, timeout=timeout_s + 60)
        ran.append(shlex.join(argv))
    if method.kind == "supervisor" and method.program:
        state = settle_supervisor(remote, method, timeout_s)
        if state != "RUNNING":
            raise RestartError(f"supervisor program {method.program} is {state or 'unknown'} after the restart")
    wait_serving(remote, url, timeout_s)
    return ran
