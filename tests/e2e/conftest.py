"""A real `python -m service` process on a loopback port, shared by the e2e tests of one module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "e2e-admin-key-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    database: Path  # the SQLite file (meaningless when database_url names another database)
    env: dict[str, str]
    database_url: str = ""
    stderr: Path | None = None

    @classmethod
    def start(
        cls, database: Path | str, env: dict[str, str], port: int | None = None, *, wait: bool = True
    ) -> ServerProcess:
        """Start `python -m service` on a SQLite file (a Path) or any SQLAlchemy URL (a str)."""
        port = port or free_port()
        database_url = database if isinstance(database, str) else f"sqlite:///{database}"
        full = {**os.environ, "SENTIMENT_DATABASE_URL": database_url, "SENTIMENT_ADMIN_KEYS": ADMIN, **env}
        stderr = Path(tempfile.mkstemp(prefix="server-", suffix=".log")[1])
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"],
                cwd=ROOT,
                env=full,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        path = Path(database) if isinstance(database, Path) else Path(os.devnull)
        server = cls(f"http://127.0.0.1:{port}", process, path, env, database_url, stderr)
        if wait:
            server.wait_ready()
        return server

    def output(self) -> str:
        """What the server wrote to stderr (its log), the last 2000 characters."""
        return self.stderr.read_text(errors="replace")[-2000:] if self.stderr else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in time: {self.output()}")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.stderr is not None:
            self.stderr.unlink(missing_ok=True)


@pytest.fixture()
def start_server(tiny_artifact: Path, tmp_path: Path) -> Iterator[object]:
    started: list[ServerProcess] = []

    def start(database_url: str | None = None, **env: str) -> ServerProcess:
        """A server on the test's SQLite file, or on `database_url` (e.g. the `database_url` fixture)."""
        database = database_url or tmp_path / "requests.db"
        server = ServerProcess.start(database, {"SENTIMENT_MODEL_DIR": str(tiny_artifact), **env})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
