"""A real PostgreSQL server for tests and benches: initdb in a temporary folder, a free loopback port.

Debian's PostgreSQL 15 binaries (`/usr/lib/postgresql/15/bin`, or `SENTIMENT_PG_BIN`); `.ci/run`
installs them where missing. `initdb` refuses root, so as root the server runs as the `postgres`
user (created by the Debian package) in a folder it owns. Trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _installed_bin() -> Path:
    """Debian's PostgreSQL 15, else the newest major version installed."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    preferred = Path("/usr/lib/postgresql/15/bin")
    if preferred in found or not found:
        return preferred
    return max(found, key=lambda p: int(p.parent.name))


PG_BIN = Path(os.environ.get("SENTIMENT_PG_BIN") or _installed_bin())


def available() -> str | None:
    """Return why no server can be started here, or None when one can."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql-15, or set SENTIMENT_PG_BIN)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def require() -> None:
    """Skip the calling test where no server can be started, except in CI (CI=true), where fail:
    `make test` installs PostgreSQL (scripts/system_deps.sh)."""
    import pytest

    problem = available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server: `start()`, `stop()` (an outage), `start()` again on the same data and port."""

    def __init__(self, port: int | None = None, *, fsync: bool = False) -> None:
        """`fsync=False` (tests) trades crash safety for speed; benches that time writes pass True."""
        problem = available()
        if problem:
            raise RuntimeError(problem)
        self.port = port or _free_port()
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="sentiment-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.root, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        options += "" if self.fsync else " -c fsync=off"
        result = self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            self.root / "server.log",
            "-w",
            "start",
            check=False,
        )
        if result.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected) or `immediate` (like a crash)."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        self._run(
            PG_BIN / "psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "-c", f"CREATE DATABASE {name}"
        )
        return self.url(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
