"""`GET /v1/model` and `/metrics` name the artifact (directory name, version), never its path on the server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings


def test_the_answer_names_the_artifact_and_only_the_start_up_log_says_where_it_lies(
    settings_for: Callable[..., Settings], tiny_artifact: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    with TestClient(create_app(settings_for())) as client:
        answer = client.get("/v1/model")
        metrics = client.get("/metrics").text
    body = answer.json()
    assert body["artifact"] == tiny_artifact.name == "tiny" and len(body["version"]) == 12
    assert body["name"] == "sentiment"  # the model's one name: v1, /v2/models/sentiment, the log, the client
    assert "path" not in body
    where = str(tiny_artifact.resolve().parent)  # the server's folders: in neither answer
    assert where not in answer.text and where not in metrics
    assert 'name="tiny"' in metrics and "path=" not in metrics
    # admins find the path in the start-up log, absolute
    assert any(str(tiny_artifact.resolve()) in record.getMessage() for record in caplog.records)


def test_a_relative_model_dir_still_has_its_directory_name(
    settings_for: Callable[..., Settings], tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_artifact)
    with TestClient(create_app(settings_for(model_dir="."))) as client:
        assert client.get("/v1/model").json()["artifact"] == "tiny"


def test_the_answers_and_the_start_up_log_say_which_precision_serves(
    settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    with TestClient(create_app(settings_for(precision="int8"))) as client:
        body = client.get("/v1/model").json()
        listed = client.get("/v1/models").json()["models"]
        one = client.post("/v1/sentiment", json={"text": "good"}).json()
        many = client.post("/v1/sentiment/batch", json={"texts": ["good", "bad"]}).json()
        explained = client.post("/v1/sentiment", json={"text": "good", "explain": True}).json()
    assert one["precision"] == many["precision"] == explained["precision"] == "int8"  # each answer says it
    assert (body["precision"], body["runtime"], body["precision_note"]) == ("int8", "onnx", "int8 (asked for)")
    assert [m["precision"] for m in listed] == ["int8"]
    assert any("precision int8 (asked for)" in record.getMessage() for record in caplog.records)
    with TestClient(create_app(settings_for(precision="fp32"))) as client:
        fp32 = client.get("/v1/model").json()
    assert fp32["precision"] == "fp32" and fp32["version"] == body["version"]  # same weights, same version
