"""The app's own interpreter: run a snippet as the app runs (its environment, cwd and user, or
in its container, or in a new container of a freshly built image), and plain commands."""
import json
import os
import pwd
import sys

from remediation.agent.core import op, read_proc, run


def app_command(req, args):
    """argv, env, cwd and privilege drop that run the snippet as the app runs (or in its container)."""
    overrides = req.get("env") or {}  # what the restart will change (a patched manager file)
    if req.get("container"):
        engine = req.get("engine") or "docker"  # the manager's container CLI (docker, podman)
        argv = [engine, "exec", "-i"] + (["-w", req["cwd"]] if req.get("cwd") else [])
        for key, value in sorted(overrides.items()):
            argv += ["-e", "%s=%s" % (key, value)]
        return argv + [req["container"], req["python"], "-c", req["snippet"]] + args, None, None, {}
    env = {}
    for item in (read_proc(req["pid"], "environ") or b"").split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    env.update(overrides)
    return [req["python"], "-c", req["snippet"]] + args, env, req.get("cwd") or "/", drop_to(req["uid"])


def drop_to(uid):
    """Popen arguments that run a child as `uid` (its primary group, no supplementary groups).
    Python >= 3.9 drops them in the child without preexec_fn, which is unsafe with threads."""
    if not uid:
        return {}
    gid = pwd.getpwuid(uid).pw_gid
    if sys.version_info >= (3, 9):
        return {"user": uid, "group": gid, "extra_groups": []}

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return {"preexec_fn": drop}


def image_run_command(req, args, info, env_file):
    """`docker run` of a freshly built image as the running container (`info`, its `docker
    inspect`) runs: its network, user and bind mounts, its environment with the overrides a
    restart will bring (the text for `env_file`, never a command line), the app's interpreter
    and working directory. Returns (argv, env file text)."""
    host, config = info.get("HostConfig") or {}, info.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    env.update(req.get("env") or {})
    text = "".join("%s=%s\n" % (k, v) for k, v in sorted(env.items()) if "\n" not in v)
    argv = ["docker", "run", "--rm", "-i", "--network", host.get("NetworkMode") or "default", "--env-file", env_file]
    if config.get("User"):
        argv += ["-u", config["User"]]
    for bind in host.get("Binds") or []:
        argv += ["-v", bind]
    if req.get("cwd"):
        argv += ["-w", req["cwd"]]
    return argv + ["--entrypoint", req["python"], req["image_run"]["image"], "-c", req["snippet"]] + args, text


def op_image_introspect(req):
    """The snippet in a new container of a freshly built image (see image_run_command)."""
    import tempfile

    res = run(["docker", "inspect", req["image_run"]["like"]], timeout=30)
    if res["rc"] != 0:
        return {"rc": 1, "stdout": "", "stderr": "docker inspect failed: %s" % res["stderr"].strip()}
    directory = tempfile.mkdtemp(prefix="remediation-")
    env_file = os.path.join(directory, "env")
    argv, text = image_run_command(req, req.get("args", []), json.loads(res["stdout"])[0], env_file)
    try:
        with os.fdopen(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            fh.write(text)
        return run(argv, timeout=req.get("timeout", 120))
    finally:
        if os.path.exists(env_file):
            os.unlink(env_file)
        os.rmdir(directory)


@op("introspect", parallel=True)
def op_introspect(req):
    """Run a snippet under the app's own interpreter, environment, cwd and user (or in a new
    container of a freshly built image, `image_run`)."""
    if req.get("image_run"):
        return op_image_introspect(req)
    argv, env, cwd, privs = app_command(req, req.get("args", []))
    return run(argv, timeout=req.get("timeout", 90), env=env, cwd=cwd, privs=privs)


@op("run")
def op_run(req):
    return run(req["argv"], timeout=req.get("timeout", 120))
