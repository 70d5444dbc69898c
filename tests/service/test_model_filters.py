"""`model` on /v1/stats, /v1/review and /v1/requests, on SQLite and PostgreSQL: one model's rows; the
default model's include rows written before named models (no name)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_rows, log_row

AUTH = {"X-API-Key": ADMIN}


def test_stats_review_and_requests_filter_by_model(
    settings_for: Callable[..., Settings], database_url: str, tiny_artifact: Path
) -> None:
    settings = settings_for(
        model_dir=None, models={"en": tiny_artifact, "tickets": tiny_artifact}, database_url=database_url
    )
    with TestClient(create_app(settings)) as client:
        now = datetime.now(UTC) - timedelta(minutes=5)
        rows = [log_row(now, request_id=f"old-{i}", model=None, label="negative", score=0.6) for i in range(2)]
        rows += [log_row(now, request_id=f"en-{i}", model="en", label="positive", score=0.7) for i in range(3)]
        rows += [log_row(now, request_id=f"t-{i}", model="tickets", label="negative", score=0.55) for i in range(4)]
        insert_rows(client.app.state.service.engine, rows)  # type: ignore[attr-defined]

        def stats(**params: str) -> dict[str, int]:
            answer = client.get("/v1/stats", params={"window": "1h", **params}, headers=AUTH)
            assert answer.status_code == 200, answer.text
            assert answer.json()["window"]["model"] == params.get("model")
            return dict(answer.json()["labels"])

        assert stats() == {"negative": 6, "positive": 3}
        assert stats(model="tickets") == {"negative": 4}
        assert stats(model="en") == {"negative": 2, "positive": 3}  # the rows without a name are the default's

        def review(**params: str) -> list[str]:
            answer = client.get("/v1/review", params={"limit": "50", **params}, headers=AUTH)
            assert answer.status_code == 200, answer.text
            return sorted(item["request_id"] for item in answer.json()["items"])

        assert review(model="tickets") == [f"t-{i}" for i in range(4)]
        assert review(model="en") == ["en-0", "en-1", "en-2", "old-0", "old-1"]
        assert len(review()) == 9

        def requests(**params: str) -> list[str | None]:
            answer = client.get("/v1/requests", params=params, headers=AUTH)
            return sorted(str(row["model"]) for row in answer.json()["rows"])

        assert requests(model="tickets") == ["tickets"] * 4
        assert requests(model="en") == ["None", "None", "en", "en", "en"]
