"""The fleet's PostgreSQL and MariaDB servers (loopback only) and their counters.

Hosts reach them through the delay proxy on the bridge. Each host has its own database
and role, so connections are counted per host on the server side.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time

from lab import config
from lab.sh import LabError, ok, run

PG_BIN = "/usr/lib/postgresql/15/bin"


def _pg_bin(name: str) -> str:
    local = shutil.which(name)
    return local or f"{PG_BIN}/{name}"


def _as_postgres(args: list) -> list:
    return ["runuser", "-u", "postgres", "--", *map(str, args)]


def psql(sql: str, database: str = "postgres") -> str:
    """Run SQL as the superuser over the local socket; tab-separated rows."""
    return run(_as_postgres(["psql", "-h", config.PG_DATA, "-p", config.PG_PORT, "-d", database,
                             "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])).stdout


def postgres_running() -> bool:
    if not (config.PG_DATA / "PG_VERSION").exists():
        return False
    return ok(_as_postgres([_pg_bin("pg_ctl"), "-D", config.PG_DATA, "status"]))


def start_postgres() -> bool:
    """initdb (once) and start; True when started now (or restarted for another max_connections)."""
    if postgres_running():
        current = psql("SHOW max_connections").strip()
        if current == str(config.DB_MAX_CONNECTIONS):
            return False
        stop_postgres()
    config.LAB_ROOT.mkdir(parents=True, exist_ok=True)
    uid = pwd.getpwnam("postgres")
    if not (config.PG_DATA / "PG_VERSION").exists():
        shutil.rmtree(config.PG_DATA, ignore_errors=True)
        config.PG_DATA.mkdir(mode=0o700)
        os.chown(config.PG_DATA, uid.pw_uid, uid.pw_gid)
        run(_as_postgres([_pg_bin("initdb"), "-D", config.PG_DATA, "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-E", "UTF8"]), timeout=120)
        hba = config.PG_DATA / "pg_hba.conf"
        hba.write_text("local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n"
                       "host all all 127.0.0.1/32 scram-sha-256\n")
    config.PG_LOG.touch()
    os.chown(config.PG_LOG, uid.pw_uid, uid.pw_gid)
    options = (f"-c listen_addresses=127.0.0.1 -c port={config.PG_PORT} "
               f"-c max_connections={config.DB_MAX_CONNECTIONS} -c unix_socket_directories={config.PG_DATA}")
    run(_as_postgres([_pg_bin("pg_ctl"), "-D", config.PG_DATA, "-l", config.PG_LOG, "-w", "-t", "60",
                      "-o", options, "start"]), timeout=90)
    return True


def stop_postgres() -> None:
    if postgres_running():
        run(_as_postgres([_pg_bin("pg_ctl"), "-D", config.PG_DATA, "-m", "immediate", "-w", "stop"]))


def mariadb(sql: str, database: str | None = None) -> str:
    """Run SQL as root over the local socket; tab-separated rows."""
    args = ["mariadb", "-S", config.MARIADB_SOCKET, "-u", "root", "-N", "-B", "-e", sql]
    if database:
        args.append(database)
    return run(args).stdout


def mariadb_running() -> bool:
    return config.MARIADB_SOCKET.exists() and ok(
        ["mariadb-admin", "-S", config.MARIADB_SOCKET, "-u", "root", "ping"])


def start_mariadb() -> bool:
    if mariadb_running():
        mariadb(f"SET GLOBAL max_connections = {int(config.DB_MAX_CONNECTIONS)}")
        return False
    config.LAB_ROOT.mkdir(parents=True, exist_ok=True)
    if not (config.MARIADB_DATA / "mysql").exists():
        shutil.rmtree(config.MARIADB_DATA, ignore_errors=True)
        run(["mariadb-install-db", "--user=mysql", f"--datadir={config.MARIADB_DATA}",
             "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120)
    mysql = pwd.getpwnam("mysql")
    config.MARIADB_RUN.mkdir(exist_ok=True)
    os.chown(config.MARIADB_RUN, mysql.pw_uid, mysql.pw_gid)
    log = open(config.MARIADB_RUN / "mariadbd.out", "ab")
    subprocess.Popen(
        ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={config.MARIADB_DATA}",
         f"--socket={config.MARIADB_SOCKET}", f"--port={config.MARIADB_PORT}", "--bind-address=127.0.0.1",
         f"--pid-file={config.MARIADB_PIDFILE}", "--skip-name-resolve", "--userstat=1",
         f"--max-connections={config.DB_MAX_CONNECTIONS}", f"--log-error={config.MARIADB_LOG}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if mariadb_running():
            return True
        time.sleep(0.2)
    raise LabError(f"MariaDB did not start within 60 s; see {config.MARIADB_LOG}")


def stop_mariadb() -> None:
    try:
        pid = int(config.MARIADB_PIDFILE.read_text())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.1)
    os.kill(pid, 9)


def _sql_literal(text: str) -> str:
    if any(ch in text for ch in "'\\\0\n"):
        raise LabError("refusing to embed a value with quotes or control characters in SQL")
    return f"'{text}'"


_ROLE_LOCK = threading.Lock()


def ensure_host_database(engine: str, name: str, user: str, password: str) -> None:
    """A database and a login role for one host (idempotent; password reset to `password`).

    One at a time: hosts are created in parallel and may share a role, and PostgreSQL refuses
    two concurrent ALTER ROLE on one role ("tuple concurrently updated")."""
    with _ROLE_LOCK:
        _ensure_host_database(engine, name, user, _sql_literal(password))


def _ensure_host_database(engine: str, name: str, user: str, pw: str) -> None:
    if engine == "postgres":
        exists = psql(f"SELECT 1 FROM pg_roles WHERE rolname = {_sql_literal(user)}").strip()
        verb = "ALTER" if exists else "CREATE"
        psql(f'{verb} ROLE "{user}" LOGIN PASSWORD {pw}')
        if not psql(f"SELECT 1 FROM pg_database WHERE datname = {_sql_literal(name)}").strip():
            psql(f'CREATE DATABASE "{name}" OWNER "{user}"')
    else:
        mariadb(f"CREATE DATABASE IF NOT EXISTS `{name}`; "
                f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {pw}; "
                f"ALTER USER '{user}'@'%' IDENTIFIED BY {pw}; "
                f"GRANT ALL ON `{name}`.* TO '{user}'@'%'; FLUSH PRIVILEGES;")


# -- counters the tests read ------------------------------------------------------------

def pg_backends(user: str) -> dict[int, str]:
    """Open PostgreSQL backends of a role now: pid -> backend_start."""
    rows = psql(f"SELECT pid, backend_start FROM pg_stat_activity WHERE usename = {_sql_literal(user)}")
    return {int(pid): start for pid, start in (line.split("\t") for line in rows.splitlines() if line)}


def mariadb_total_connections(user: str) -> int:
    """Connections ever opened by a MariaDB user (userstat), a cumulative counter."""
    out = mariadb("SELECT TOTAL_CONNECTIONS FROM information_schema.USER_STATISTICS "
                  f"WHERE USER = {_sql_literal(user)}").strip()
    return int(out or 0)


def mariadb_global_connections() -> int:
    """SHOW GLOBAL STATUS LIKE 'Connections': attempts since the server started."""
    return int(mariadb("SHOW GLOBAL STATUS LIKE 'Connections'").split()[1])


def mariadb_threads_for(user: str) -> int:
    out = mariadb(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = {_sql_literal(user)}")
    return int(out.strip() or 0)


def pg_sessions(database: str) -> int:
    """pg_stat_database.sessions: sessions ever established to a database (cumulative)."""
    return int(psql(f"SELECT sessions FROM pg_stat_database WHERE datname = {_sql_literal(database)}").strip() or 0)


def new_connection_counter(engine: str, database: str, user: str) -> int:
    """A server-side cumulative count of connections opened for one lab host."""
    return pg_sessions(database) if engine == "postgres" else mariadb_total_connections(user)


def open_connections(engine: str, user: str) -> int:
    """Connections of one lab host open on the server right now."""
    return len(pg_backends(user)) if engine == "postgres" else mariadb_threads_for(user)
