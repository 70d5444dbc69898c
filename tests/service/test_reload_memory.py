"""Hot reloads keep no memory: RSS after 30 reloads stays within 10% of after the warm-up ones."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

from .conftest import ADMIN


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_rss_levels_over_reloads(settings_for: Callable[..., Settings]) -> None:
    headers = {"X-API-Key": ADMIN}
    with TestClient(create_app(settings_for(model_dir=None))) as client:  # the shipped model: a real session size

        def reload_and_predict() -> None:
            assert client.post("/v1/admin/reload", headers=headers).status_code == 200
            assert client.post("/v1/sentiment", json={"text": "Dull."}, headers=headers).status_code == 200

        for _ in range(3):  # warm-up: the first reloads load code and caches once
            reload_and_predict()
        warm = rss_mb()
        for _ in range(30):
            reload_and_predict()
        after = rss_mb()
    assert after <= warm * 1.10, f"RSS {warm:.1f} MB after warm-up, {after:.1f} MB after 30 more reloads"
