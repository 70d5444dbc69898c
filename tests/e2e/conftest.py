"""A real `python -m service` process on a loopback port, shared by the e2e tests of one module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
    database: Path
    env: dict[str, str]

    @classmethod
    def start(cls, database: Path, env: dict[str, str], port: int | None = None) -> ServerProcess:
        port = port or free_port()
        full = {**os.environ, "SENTIMENT_DATABASE_URL": f"sqlite:///{database}", "SENTIMENT_ADMIN_KEYS": ADMIN, **env}
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = cls(f"http://127.0.0.1:{port}", process, database, env)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server not ready in time")

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


@pytest.fixture()
def start_server(tiny_artifact: Path, tmp_path: Path) -> Iterator[object]:
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess.start(tmp_path / "requests.db", {"SENTIMENT_MODEL_DIR": str(tiny_artifact), **env})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
