"""Drain hooks: the operator's own commands that take a host out of its load balancer before the
tool changes it, and put it back once it serves again (haproxy's runtime API, an nginx upstream
file, a cloud target group...), as Ansible's rolling-update playbooks do in pre_tasks and
post_tasks. They come from the inventory, per host or group:

- `remediation_drain_command`: run before the first change; it should return once in-flight
  requests have finished (or `remediation_drain_wait_s` is waited after it). A drain that fails
  stops the host before any change.
- `remediation_ready_command`: run after the host serves again: remediated, rolled back, or
  refused after the drain. Not run when a rollback failed: a broken host stays out of rotation.
- `remediation_hooks_run_on`: `controller` (default; `sh -c` here) or `host` (`sh -c` over the
  host's SSH connection, as the login user).

Each command gets REMEDIATION_HOST (the inventory name), REMEDIATION_ADDRESS (ansible_host) and
REMEDIATION_PORT (remediation_app_port, when set) in its environment."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from remediation.errors import InputError

RUN_ON = ("controller", "host")
DEFAULT_TIMEOUT_S = 120


@dataclass(frozen=True)
class Hooks:
    drain: str | None = None
    ready: str | None = None
    run_on: str = "controller"
    timeout_s: int = DEFAULT_TIMEOUT_S
    drain_wait_s: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.drain or self.ready)


def check(host: str, values: dict, origins: dict | None = None) -> Hooks:
    """The host's hooks from its vars, or one line naming the var, file and line that is wrong (pure)."""
    def bad(key: str, message: str) -> InputError:
        path, line = (origins or {}).get(key, (None, None))
        return InputError(f"host {host}: {message}", path, line, key)

    def text(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise bad(key, f"must be a shell command (a non-empty string), not {value!r}")
        return value

    def number(key: str, default: float, top: float) -> float:
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise bad(key, f"must be a number of seconds from 0 to {top:g}, not {value!r}")
        return float(value)

    run_on = values.get("remediation_hooks_run_on", "controller")
    if run_on not in RUN_ON:
        raise bad("remediation_hooks_run_on", f"must be one of {', '.join(RUN_ON)}, not {run_on!r}")
    return Hooks(drain=text("remediation_drain_command"), ready=text("remediation_ready_command"), run_on=run_on,
                 timeout_s=int(number("remediation_hook_timeout_s", DEFAULT_TIMEOUT_S, 3600)) or DEFAULT_TIMEOUT_S,
                 drain_wait_s=number("remediation_drain_wait_s", 0, 3600))


def environment(host_name: str, address: str, values: dict) -> dict[str, str]:
    """What a hook is told: the inventory name, the address the tool connects to (Host.address) and
    the app's port when the inventory gives one."""
    env = {"REMEDIATION_HOST": host_name, "REMEDIATION_ADDRESS": address}
    if values.get("remediation_app_port") is not None:
        env["REMEDIATION_PORT"] = str(values["remediation_app_port"])
    return env


class HookFailed(Exception):
    """A hook exited non-zero or timed out (the message says which and its last line of output)."""


def run(kind: str, command: str, hooks: Hooks, env: dict[str, str], remote=None) -> None:
    """Run one hook where the inventory says; HookFailed when it fails."""
    if hooks.run_on == "host":
        argv = ["env", *[f"{k}={v}" for k, v in env.items()], "sh", "-c", command]
        out = remote.run(argv, timeout=hooks.timeout_s, check=False)
        rc, output = out.rc, (out.stderr.strip() or out.stdout.strip())
    else:
        try:
            done = subprocess.run(["sh", "-c", command], env={**os.environ, **env}, capture_output=True, text=True,
                                  timeout=hooks.timeout_s, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise HookFailed(f"the {kind} hook did not finish in {hooks.timeout_s} s") from None
        rc, output = done.returncode, (done.stderr.strip() or done.stdout.strip())
    if rc != 0:
        last = output.splitlines()[-1] if output else "no output"
        raise HookFailed(f"the {kind} hook exited {rc} on the {hooks.run_on}: {last[:300]}")
    if kind == "drain" and hooks.drain_wait_s:
        time.sleep(hooks.drain_wait_s)
