"""`make run PORT=... HOST=...` sets the service's own settings for that run (checked with `make -n`: nothing runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _run_line(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["make", "-n", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return next(line for line in done.stdout.splitlines() if line.rstrip().endswith("-m service"))


def test_make_run_port_and_host_set_the_services_settings() -> None:
    line = _run_line("PORT=8123", "HOST=0.0.0.0")
    assert "SENTIMENT_PORT='8123'" in line and "SENTIMENT_HOST='0.0.0.0'" in line
    assert "SENTIMENT_PORT='8124'" in _run_line(env={"PORT": "8124"})  # `PORT=8124 make run` too


def test_make_run_without_them_leaves_the_settings_alone() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}
    done = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=30, env=environment)
    assert done.returncode == 0 and "SENTIMENT_PORT" not in done.stdout and "SENTIMENT_HOST" not in done.stdout
