"""`python -m service migrate`, SENTIMENT_MIGRATE_ON_START, and start-up failures of the log database."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from service.__main__ import main
from service.log import make_engine, schema_revisions
from tests.e2e.conftest import free_port


def with_password(database_url: str) -> str:
    """The same database with a password in the URL (trust authentication ignores it)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return database_url
    return url.set(password="s3cret-pw").render_as_string(hide_password=False)


def test_migrate_upgrades_an_empty_database_and_check_reports_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(database_url)
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", url)
    assert main(["migrate", "--check"]) == 1
    out = capsys.readouterr()
    assert "revision: none (empty), head: 0009" in out.out and "python -m service migrate" in out.err
    assert main(["migrate"]) == 0
    out = capsys.readouterr()
    assert "revision: none (empty) -> 0009 (head)" in out.out
    assert main(["migrate"]) == 0 and "revision: 0009 (head)" in capsys.readouterr().out  # idempotent
    assert main(["migrate", "--check"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-pw" not in out and out.startswith("database: ")
    if "postgresql" in url:
        assert "postgres:***@" in out
    engine = make_engine(url, durable=False)
    assert schema_revisions(engine) == ("0009", "0009")
    engine.dispose()


def test_start_refuses_an_old_schema_when_migrations_at_start_are_off(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", f"sqlite:///{tmp_path / 'log.db'}")
    monkeypatch.setenv("SENTIMENT_MODEL_DIR", str(tiny_artifact))
    monkeypatch.setenv("SENTIMENT_MIGRATE_ON_START", "false")
    assert main(["--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "revision none (empty)" in err and "run `python -m service migrate`" in err
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}", durable=False)
    assert inspect(engine).get_table_names() == []  # it changed nothing
    engine.dispose()


def test_start_fails_clearly_when_the_database_cannot_be_reached(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", f"postgresql+psycopg://app:pw-4711@127.0.0.1:{port}/log")
    monkeypatch.setenv("SENTIMENT_MODEL_DIR", str(tiny_artifact))
    monkeypatch.setenv("SENTIMENT_DATABASE_WAIT_S", "0.5")  # retried for half a second, then exit 2
    assert main(["--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the log database postgresql+psycopg://app:***@127.0.0.1:{port}/log" in err
    assert "pw-4711" not in err


def test_start_fails_clearly_when_the_driver_is_missing(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed here")
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", "postgresql+pg8000://app:pw@127.0.0.1:5432/log")  # not installed
    monkeypatch.setenv("SENTIMENT_MODEL_DIR", str(tiny_artifact))
    assert main(["--port", str(free_port())]) == 2
    assert "no driver for postgresql+pg8000" in capsys.readouterr().err
