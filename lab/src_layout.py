"""The issue's third host (#23): a compose service built from a context whose code sits in ./src
and is COPYed as the contents of /app (`WORKDIR /app` + `COPY src/ .`), its CONN_MAX_AGE read from
the environment by the production settings and set by the service's `environment:`, and one more
variable from an `env_file:` (list form: the lab's docker-compose 1.29 has no mapping form; that one
is unit-tested). Beside a running lab,
in the baked family's namespace (lab/baked.py: rmimg-*, address .232, databases rmimg_*).

A varied host's stack and app (lab/variety_hosts.py renders it), its files moved to the layout
above before the image is built.
"""
from __future__ import annotations

import json
import shlex

from lab import appfiles, baked, config, databases, hosts, image, lab, network, variety_hosts
from lab.variety_hosts import command, environment

INDEX = 3
TOP = ("docker-compose.yml", "docker/Dockerfile", ".dockerignore", "requirements.txt")


def spec() -> baked.BakedSpec:
    return baked.spec(INDEX, "baked-build", settings_shape="split", settings_from="env", worker_from="-k",
                      config_ref="path", container_path="/app")


def dockerfile(s) -> str:
    return (f"# schoolsite web image (src-layout host {s.name}): ./src becomes /app\n"
            f"FROM {config.APP_IMAGE}\n\nENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
            "WORKDIR /app\n\nCOPY requirements.txt .\n"
            "# the base image carries the venv (no package index here): only check it\n"
            'RUN /opt/venv/bin/python -c "import django, gunicorn"\n\n'
            f"COPY src/ .\n\nCMD {json.dumps(command(s))}\n")


def compose_file(s) -> str:
    env = {**environment(s), "DB_CONN_MAX_AGE": "0"}
    lines = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in env.items())
    return (f"# schoolsite web service (src-layout host {s.name})\n"
            'version: "2.4"\nservices:\n  web:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n'
            "    network_mode: host\n"
            f"    environment:\n{lines}"
            "    env_file:\n      - ./web.env\n"
            f"    command: {shlex.join(command(s))}\n    restart: unless-stopped\n")


def files(s, password: str) -> dict[str, str]:
    """Host-dir (/srv/app) relative path -> text, the src layout of the varied host's tree."""
    tree = variety_hosts.app_tree(s, password)
    out = {rel if rel in TOP else f"src/{rel}": text for rel, text in tree.items()}
    out["docker/Dockerfile"] = dockerfile(s)
    out["docker-compose.yml"] = compose_file(s)
    out["web.env"] = "# per-host settings read by compose (env_file:)\nLANG=C.UTF-8\n"
    return out


def create(s) -> None:
    """The host serving from its built image (the lab must be up: bridge, databases, proxy)."""
    baked.destroy(s)
    image.ensure_rootfs_tar()
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s)
    pw = variety_hosts.password(s, baked.ROOT / "secrets")
    variety_hosts.write_files(s, pw)  # the varied layout first: migrate runs its manage.py from /srv/app
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    appfiles.write_host_files(s, pw, tree=files(s, pw))
    lab.start_sshd(s)
    lab._start_app(s, before_up=variety_hosts.build_image)
    variety_hosts.wait_serving(s)


destroy = baked.destroy
