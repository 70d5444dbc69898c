import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.config import Settings
from tests.service.conftest import admin_rows
from tests.support.logdb import count_rows, request_ids

TEXT = "The plot was good!"


@pytest.mark.parametrize("mode", ["full", "hash", "none"])
def test_rows_follow_log_text_mode(settings_for: Callable[..., Settings], database_url: str, mode: str) -> None:
    with TestClient(create_app(settings_for(log_text=mode, database_url=database_url))) as client:
        answer = client.post("/v1/sentiment", json={"text": TEXT}, headers={"X-Request-ID": "req-1"}).json()
        (row,) = admin_rows(client)
    assert row["request_id"] == "req-1" and row["endpoint"] == "sentiment" and row["status"] == 200
    assert row["label"] == answer["label"] and row["score"] == pytest.approx(answer["score"])
    assert row["model_version"] == answer["model_version"] and row["text_chars"] == len(TEXT)
    assert row["batch_size"] >= 1 and row["queue_wait_ms"] >= 0 and row["latency_ms"] > 0
    assert row["created_at"].endswith(("Z", "+00:00"))
    digest = hashlib.sha256(TEXT.encode()).hexdigest()
    expected = {"full": (TEXT, digest), "hash": (None, digest), "none": (None, None)}[mode]
    assert (row["text"], row["text_sha256"]) == expected


def stored_bytes(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> bytes:
    """Every byte the database keeps on disk for this test's rows (data files and write-ahead log)."""
    if database_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("log.db*"))
    server = request.getfixturevalue("postgres_server")
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql("CHECKPOINT")  # rows reach the table files, not only the WAL
        oid = connection.exec_driver_sql("select oid from pg_database where datname = current_database()").scalar()
    engine.dispose()
    files = [*(server.data / "base" / str(oid)).iterdir(), *(server.data / "pg_wal").glob("0*")]
    return b"".join(p.read_bytes() for p in files if p.is_file())


@pytest.mark.parametrize("mode", ["hash", "full"])
def test_hash_mode_stores_no_text_in_the_database_files(
    settings_for: Callable[..., Settings], database_url: str, mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    secret = f"secret-phrase-{mode}-4711"
    with TestClient(create_app(settings_for(log_text=mode, database_url=database_url))) as client:
        client.post("/v1/sentiment", json={"text": f"{secret} good"})
    raw = stored_bytes(database_url, request, tmp_path)
    assert hashlib.sha256(f"{secret} good".encode()).hexdigest().encode() in raw  # we read the right files
    assert (secret.encode() in raw) == (mode == "full")


def test_batch_rows_record_item_errors(client: TestClient) -> None:
    client.post("/v1/sentiment/batch", json={"texts": ["good", ""]}, headers={"X-Request-ID": "b-1"})
    rows = sorted(admin_rows(client), key=lambda r: r["item_index"])
    assert [(r["item_index"], r["status"], r["error_code"]) for r in rows] == [(0, 200, None), (1, 422, "invalid_text")]


def test_shutdown_writes_everything_held(
    settings_for: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    # A long flush interval: rows only reach the database because shutdown writes them.
    with TestClient(create_app(settings_for(log_flush_ms=60_000, database_url=database_url))) as client:
        for i in range(20):
            client.post("/v1/sentiment", json={"text": f"good {i}"})
    assert count_rows(database_url) == 20
    if database_url.startswith("sqlite"):
        with sqlite3.connect(tmp_path / "log.db") as db:
            assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_durable_mode_commits_before_answering(settings_for: Callable[..., Settings], database_url: str) -> None:
    settings = settings_for(log_mode="durable", log_flush_ms=60_000, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        answered = [client.post("/v1/sentiment", json={"text": f"good {i}"}).json()["request_id"] for i in range(5)]
        stored = request_ids(database_url)  # read straight away, from another connection
        assert set(answered) <= stored


def test_failing_log_database_keeps_predictions_flowing(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    with TestClient(create_app(settings_for(database_url=database_url))) as client:
        runtime = client.app.state.service  # type: ignore[attr-defined]
        with runtime.engine.begin() as connection:  # the fault: the table disappears
            connection.exec_driver_sql("ALTER TABLE request_log RENAME TO moved")
        assert client.post("/v1/sentiment", json={"text": "good"}).status_code == 200
        assert not runtime.writer.flush(1.0)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "sentiment_log_degraded 1.0" in client.get("/metrics").text
        with runtime.engine.begin() as connection:  # the fault clears: the held row is written
            connection.exec_driver_sql("ALTER TABLE moved RENAME TO request_log")
        assert runtime.writer.flush(10.0)
        assert client.get("/readyz").json()["status"] == "ready"
        assert len(admin_rows(client)) == 1


def test_durable_mode_refuses_when_the_log_cannot_commit(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    settings = settings_for(log_mode="durable", durable_timeout_s=0.5, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.service  # type: ignore[attr-defined]
        with runtime.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE request_log RENAME TO moved")
        response = client.post("/v1/sentiment", json={"text": "good"})
        assert response.status_code == 503 and response.json()["error"]["code"] == "log_unavailable"
        assert client.get("/readyz").status_code == 503
        with runtime.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE moved RENAME TO request_log")


def test_writer_survives_a_database_fault_without_a_message(
    settings_for: Callable[..., Settings], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.log.writer as writer_module

    real_insert = writer_module.insert_rows
    faulty = {"on": True}

    def insert_rows(connection: object, rows: list[dict[str, object]]) -> None:
        if faulty["on"]:
            raise ConnectionError()  # str() is "": `.splitlines()[0]` raised IndexError in the writer
        real_insert(connection, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module, "insert_rows", insert_rows)
    with TestClient(create_app(settings_for(database_url=database_url))) as client:
        runtime = client.app.state.service  # type: ignore[attr-defined]
        assert client.post("/v1/sentiment", json={"text": "good"}).status_code == 200
        assert not runtime.writer.flush(1.0)
        assert runtime.writer.stats.last_error == "ConnectionError"
        faulty["on"] = False  # the fault clears: the same writer thread writes the held row
        assert runtime.writer.flush(10.0)
        assert client.post("/v1/sentiment", json={"text": "fine"}).status_code == 200
        assert runtime.writer.flush(10.0)
        assert len(admin_rows(client)) == 2
