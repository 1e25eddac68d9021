"""A throwaway PostgreSQL cluster for end-to-end tests: its own data directory and port."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterator

SUPERUSER = "postgres"
START_TRIES = 3


@dataclasses.dataclass(frozen=True)
class PostgresCluster:
    """Where a running cluster listens, and the superuser's login over TCP."""

    host: str
    port: int
    password: str
    user: str = SUPERUSER
    dbname: str = "postgres"

    @property
    def conninfo(self) -> str:
        """A libpq connection string for psycopg."""
        return (
            f"host={self.host} port={self.port} user={self.user} password={self.password} "
            f"dbname={self.dbname}"
        )

    def target_postgres_env(self, schema: str) -> dict[str, str]:
        """Settings that point meltano's target-postgres at ``schema`` of this cluster."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.dbname,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }


def postgres_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: $POSTGRES_BIN_DIR, Debian's, or the PATH's."""
    if configured := os.environ.get("POSTGRES_BIN_DIR"):
        return Path(configured)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    msg = (
        "PostgreSQL's initdb was not found: install PostgreSQL (apt-get install postgresql) "
        "or set POSTGRES_BIN_DIR"
    )
    raise RuntimeError(msg)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """Create, start, yield, then stop and delete a cluster listening on 127.0.0.1 only."""
    bin_dir = postgres_bin_dir()
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
    as_postgres = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="tap-openai-compliance-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    password, password_file = secrets.token_urlsafe(16), base / "password"
    sockets.mkdir()
    password_file.write_text(password + "\n")
    if as_postgres:
        for path in (base, sockets, password_file):
            shutil.chown(path, SUPERUSER)
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        # TCP logins need the password, as a real server's would; the socket stays trusted.
        _run(
            [
                *as_postgres,
                str(bin_dir / "initdb"),
                *("-D", str(data), "-U", SUPERUSER, f"--pwfile={password_file}"),
                *("--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8"),
                "--no-sync",
            ]
        )
        cluster = _start(pg_ctl, sockets, log, password)
        try:
            yield cluster
        finally:
            _run([*pg_ctl, "stop", "-m", "immediate", "-w"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(pg_ctl: list[str], sockets: Path, log: Path, password: str) -> PostgresCluster:
    """Start the server on a free port, trying another when one is taken meanwhile."""
    for _ in range(START_TRIES):
        port = free_port()
        options = (
            f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 "
            # A test database need not survive a crash of the machine.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = subprocess.run(
            [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode == 0:
            return PostgresCluster("127.0.0.1", port, password)
    server_log = log.read_text(errors="replace") if log.exists() else "(no server log)"
    msg = f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{server_log}"
    raise RuntimeError(msg)


def _run(args: list[str]) -> None:
    """Run a PostgreSQL command; fail with its output."""
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        raise RuntimeError(msg)
