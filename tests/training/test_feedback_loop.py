"""The loop back into training: predictions -> feedback -> export -> train -> reload serves a new model."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import make_artifact, synthetic_reviews
from tests.support.logrows import insert_feedback, insert_rows, log_row
from training.__main__ import main
from training.data import DataError, read_dataset

ADMIN = "admin-key-0001"


def test_feedback_flows_back_into_a_new_served_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serving = make_artifact(tmp_path / "serving")
    url = f"sqlite:///{tmp_path / 'log.db'}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, model_dir=serving, database_url=url, admin_keys=[ADMIN], log_flush_ms=10, drift_refresh_s=0
    )
    reviews = synthetic_reviews(40, seed=5)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/sentiment/batch", json={"texts": [t for t, _ in reviews]}).json()
        old_version = answer["model_version"]
        for i, (_, truth) in enumerate(reviews):
            body = {"request_id": answer["request_id"], "item_index": i, "label": truth}
            assert client.post("/v1/feedback", json=body).status_code == 200
        # One correction of a prediction logged in hash mode: no text, so it cannot train.
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        insert_rows(engine, [log_row(now, request_id="hashed", text=None, text_sha256="0" * 64)])
        insert_feedback(
            engine,
            [{"created_at": now, "updated_at": now, "request_id": "hashed", "item_index": 0, "label": "negative"}],
        )

        exported = tmp_path / "feedback.jsonl"
        assert main(["export-feedback", "--database", url, "--out", str(exported)]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out) == {"out": str(exported), "exported": 40, "skipped_no_text": 1}
        assert "skipped 1 feedback rows" in err
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert sorted((r["text"], r["label"]) for r in lines) == sorted(reviews)

        tiny_csv = tmp_path / "tiny.csv"
        with tiny_csv.open("w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *synthetic_reviews(40, seed=6)])
        tiny = ["--epochs", "1", "--batch-size", "16", "--embedding-dim", "8", "--hidden-size", "8", "--min-freq", "1"]
        tiny += ["--max-tokens", "40", "--head-tokens", "10", "--init-vectors", "none", "--threads", "1"]
        args = ["train", "--data", str(tiny_csv), "--data", str(exported), "--out", str(serving), *tiny]
        assert main(args) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["train_examples"] + summary["val_examples"] == 80

        reload = client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN})
        assert reload.status_code == 200, reload.text
        answer = reload.json()
        assert (answer["previous_version"], answer["version"], answer["changed"]) == (
            old_version,
            summary["version"],
            True,
        )
        assert answer["rollout_error"] is None  # recorded for every replica sharing the log database
        assert client.post("/v1/sentiment", json={"text": "good"}).json()["model_version"] == summary["version"]


def test_data_reads_feedback_straight_from_the_database_url(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from service.log import upgrade_schema

    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = create_engine(url)
    upgrade_schema(engine)
    now = datetime.now(UTC)
    insert_rows(
        engine,
        [
            log_row(now, request_id="a", text="old text", label="positive"),
            log_row(now, request_id="a", text="retried text", label="positive"),  # a retry: the newest row counts
            log_row(now, request_id="b", text=None),
        ],
    )
    insert_feedback(
        engine,
        [
            {"created_at": now, "updated_at": now, "request_id": r, "item_index": 0, "label": "negative"}
            for r in ("a", "b")
        ],
    )
    engine.dispose()
    (example,) = read_dataset(url)
    assert (example.text, example.label, example.source) == ("retried text", "negative", "feedback")
    with pytest.raises(DataError, match="cannot read feedback"):
        read_dataset(f"sqlite:///{tmp_path / 'empty.db'}")
