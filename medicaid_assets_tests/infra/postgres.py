"""A private PostgreSQL 15 server for tests: initdb + pg_ctl as the ``postgres`` user, on a free loopback port.

PostgreSQL refuses to run as root, so as root the server runs through ``runuser -u postgres`` in a temp dir that
user owns (a ``mktemp -d`` is 0700 root, hence a separate dir chowned to postgres). ``available()`` says why not
when this machine cannot do it (no binaries, not root nor postgres), so tests can skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medicaid_assets_tests.support.ports import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    def instance_env(self) -> dict[str, str]:
        """The variables Dagster's PostgreSQL profile (``deploy/dagster.postgres.yaml``) reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.db_name
        )


def available() -> str | None:
    """None when a server can be started here, else the reason it cannot."""
    if not (BIN / "initdb").exists():
        return f"PostgreSQL binaries not found in {BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user on this machine"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "needs root (to run the server as postgres) or the postgres user"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser not found"
    return None


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres_server(db_name: str = "dagster") -> Iterator[Postgres]:
    """A running server with database ``db_name``; stopped (fast mode) and removed afterwards."""
    reason = available()
    if reason:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    password = secrets.token_hex(16)
    pg = pwd.getpwnam("postgres")
    os.chown(root, pg.pw_uid, pg.pw_gid)
    root.chmod(0o700)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, pg.pw_uid, pg.pw_gid)
    data, port = root / "data", free_port()
    started = False
    try:
        run = dict(check=True, capture_output=True, text=True, timeout=120)
        initdb = [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust"]
        initdb += ["--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions"]
        subprocess.run(_as_postgres(initdb), **run)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
        pg_ctl = [str(BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o", options, "start"]
        subprocess.run(_as_postgres(pg_ctl), **run)
        started = True
        server = Postgres("127.0.0.1", port, "postgres", password, "postgres")
        with contextlib.closing(server.connect()) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{db_name}"')
        yield Postgres("127.0.0.1", port, "postgres", password, db_name)
    finally:
        if started:
            subprocess.run(
                _as_postgres([str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def server_or_skip(db_name: str) -> Iterator[Postgres]:
    """``postgres_server(db_name)`` for a fixture: the test is skipped where no server can run here."""
    reason = available()
    if reason:
        pytest.skip(f"no PostgreSQL server here: {reason}")
    with postgres_server(db_name) as running:
        yield running
