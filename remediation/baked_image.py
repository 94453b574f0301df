"""A compose service whose code is baked into an image built on the host: keep the image the
container runs under a tag of the run, build the new one, check it in a container of its own,
and on rollback point the service back at the kept image id.

The kept tag `<repo>:remediation-<run id>` stays after a remediated run (a later
`rollback --run` returns to that exact image, and the old image is not left dangling for a
prune to delete); a rollback removes it once the service runs the kept image again.
"""
from __future__ import annotations

import re

from remediation.errors import RestartError
from remediation.managers.compose import project_argv
from remediation.model import RestartMethod

KEPT = "image-kept"


def repository(image: str) -> str:
    """`name[:tag]` -> name (a registry port's colon stays: `host:5000/name:1` -> `host:5000/name`)."""
    head, _, tail = image.rpartition(":")
    return head if head and "/" not in tail else image


def kept_tag(method: RestartMethod, run_id: str) -> str:
    return f"{repository(method.image or method.program or 'image')}:remediation-" + re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)


def _run(remote, argv: list[str], what: str, timeout: int = 120) -> str:
    result = remote.run(argv, sudo=True, timeout=timeout, check=False)
    if result.rc != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise RestartError(f"{what} failed: {detail[0]}")
    return result.stdout.strip()


def image_id(remote, name: str) -> str:
    return _run(remote, ["docker", "image", "inspect", "--format", "{{.Id}}", name], f"docker image inspect {name}")


def rebuild(remote, journal, host: str, method: RestartMethod, timeout_s: int = 900) -> dict:
    """Tag the image the container runs, then build the service's image from the patched context."""
    if not method.image or not method.image_id:
        raise RestartError("the container's image name or id is unknown: cannot keep it for rollback")
    tag = kept_tag(method, journal.run_id)
    if not any(e["event"] == KEPT for e in journal.events(host)):  # a second apply keeps the first original
        _run(remote, ["docker", "tag", method.image_id, tag], f"docker tag {method.image_id[:19]} {tag}")
        journal.record(host, KEPT, image=method.image, image_id=method.image_id, tag=tag)
    if not method.program:
        raise RestartError("the compose service is unknown: cannot build its image")
    _run(remote, project_argv(method) + ["build", method.program], f"building the image of {method.program}",
         timeout=timeout_s)
    built = image_id(remote, method.image)
    journal.record(host, "image-built", image=method.image, image_id=built)
    return {"kept": tag, "built": built}


def kept(journal, host: str) -> dict | None:
    return next((e for e in journal.events(host) if e["event"] == KEPT), None)


def point_back(remote, journal, host: str) -> dict | None:
    """Name the kept image id as the service's image again (the recreate follows in the restart)."""
    event = kept(journal, host)
    if event is None or any(e["event"] == "image-tag-removed" for e in journal.events(host)):
        return None  # no image kept, or a rollback already returned to it
    _run(remote, ["docker", "tag", event["image_id"], event["image"]], f"docker tag {event['image_id'][:19]} "
                                                                         f"{event['image']}")
    journal.record(host, "image-restored", image=event["image"], image_id=event["image_id"])
    return event


def release(remote, journal, host: str, event: dict) -> None:
    """After the rollback: drop the run's tag (the service's own name holds the image again) and the
    image the run built, when no container uses it (best effort: a failure leaves an unused image)."""
    remote.run(["docker", "rmi", event["tag"]], sudo=True, timeout=60, check=False)
    built = [e for e in journal.events(host) if e["event"] == "image-built" and e["image_id"] != event["image_id"]]
    for item in built:
        remote.run(["docker", "rmi", item["image_id"]], sudo=True, timeout=60, check=False)
    journal.record(host, "image-tag-removed", tag=event["tag"])
