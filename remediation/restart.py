"""The restart stage: the manager's restart that really applies a change (domain.md, pre-flight
check 5), then wait until the app serves again."""
from __future__ import annotations

from remediation import managers
from remediation.errors import RestartError
from remediation.model import RestartMethod
from remediation.transport.remote import Remote

WAIT_SCRIPT = (
    'url=$1; deadline=$(( $(date +%s) + $2 )); '
    'while [ "$(date +%s)" -lt "$deadline" ]; do '
    'code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$url"); '
    '[ "$code" = 200 ] && exit 0; sleep 0.3; done; echo "last HTTP status: $code"; exit 1'
)


def restart_argvs(method: RestartMethod, changed: list[str]) -> list[list[str]]:
    """The commands (run under sudo) that apply `changed` host paths to the running app."""
    return managers.of(method).restart_argvs(method, changed)


def wait_serving(remote: Remote, url: str, timeout_s: int) -> None:
    """Poll the health URL on the host until it answers 200 (one round trip)."""
    result = remote.run(["sh", "-c", WAIT_SCRIPT, "sh", url, str(timeout_s)], timeout=timeout_s + 30, check=False)
    if result.rc != 0:
        raise RestartError(f"app did not serve {url} within {timeout_s}s ({result.stdout.strip() or 'no answer'})")


def restart(remote: Remote, method: RestartMethod, changed: list[str], url: str, timeout_s: int) -> list[str]:
    """Run the manager's restart, then wait until the app serves. Returns the commands run."""
    ran = managers.of(method).restart(remote, method, changed, timeout_s)
    wait_serving(remote, url, timeout_s)
    return ran
