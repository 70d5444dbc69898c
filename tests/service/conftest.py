"""Service fixtures: an app per test on its own SQLite file, sync and async clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

ADMIN = "admin-key-0001"
USER = "user-key-0001"


@pytest.fixture()
def settings_for(tiny_artifact: Path, tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_dir": tiny_artifact,
            "database_url": f"sqlite:///{tmp_path / 'log.db'}",
            "admin_keys": [ADMIN],
            "log_flush_ms": 10,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture()
def client(settings_for: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for())) as test_client:
        yield test_client


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an async client bound to it (many requests at once)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as async_client:
            yield async_client


def admin_rows(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    runtime = client.app.state.service  # type: ignore[attr-defined]
    assert runtime.writer.flush(5.0)  # rows are written off the request path
    response = client.get("/v1/requests", params=params, headers={"X-API-Key": ADMIN})
    assert response.status_code == 200, response.text
    return response.json()["rows"]
