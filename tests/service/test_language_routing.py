"""Serving by language (issue 22): each text goes to the served model of its language, a text in a
language no served model reads is refused (or answered flagged `supported: false`), short English
texts are not refused, and answers, log rows and the client say which language and model read each text."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model import ZH_MODEL_DIR
from service.app import create_app
from service.config import SHIPPED_ZH_NAME, Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, admin_rows

ZH = "这部电影太无聊了，我看了一半就走了。"
EN = "A wonderful film with a great cast."
FR = "C'est un film magnifique, je l'ai adoré du début à la fin."
# Short English texts a language identifier cannot be sure of, and tweets: none may be refused.
SHORT_ENGLISH = [
    "meh",
    "lol",
    "10/10",
    "ok",
    "wow",
    "nope",
    "LOL",
    "omg",
    "thx!",
    "😍😍",
    "👍",
    "great",
    "awful",
    "not bad",
    "so good",
    "hate it",
    "Loved it!!!",
    "worst. movie. ever.",
    "@john that was sick lol",
    "meh, it was ok I guess",
    "Best pizza in town #yum",
    "can't wait for the weekend :)",
    "ugh mondays",
    "The plot was thin but the acting was fine.",
    "I would not recommend this product to anyone.",
    "Arrived broken, seller never replied.",
    "Five stars, would buy again",
    "smh this update broke everything",
    "brb",
    "gg wp",
]


def _with_language(source: Path, target: Path, language: str | None) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    if language is None:
        config.pop("language", None)
    else:
        config["language"] = language
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("languages")
    tiny = make_artifact(root / "tiny")
    other = make_artifact(root / "other", seed=7)  # another version, to tell the models apart
    return {
        "en": _with_language(tiny, root / "en", "en"),
        "zh": _with_language(other, root / "zh", "zh"),
        "any": _with_language(tiny, root / "any", None),
        "en2": _with_language(make_artifact(root / "third", seed=11), root / "en2", "en"),
    }


@pytest.fixture()
def build(settings_for: Callable[..., Settings], artifacts: dict[str, Path]) -> Callable[..., TestClient]:
    def make(models: dict[str, str], **overrides: Any) -> TestClient:
        return TestClient(
            create_app(settings_for(model_dir=None, models={n: artifacts[a] for n, a in models.items()}, **overrides))
        )

    return make


@pytest.fixture()
def client(build: Callable[..., TestClient]) -> Iterator[TestClient]:
    with build({"en": "en", "zh": "zh"}) as test_client:
        yield test_client


def test_each_text_goes_to_the_model_of_its_language(client: TestClient) -> None:
    zh = client.post("/v1/sentiment", json={"text": ZH}).json()
    en = client.post("/v1/sentiment", json={"text": EN}).json()
    assert (zh["model"], zh["language"], zh["supported"]) == ("zh", "zh", True)
    assert (en["model"], en["language"], en["supported"]) == ("en", "en", True)
    assert zh["model_version"] != en["model_version"]


def test_a_mixed_batch_is_routed_text_by_text_in_order(client: TestClient) -> None:
    texts = [ZH, EN, FR, "", "lol", ZH]
    body = client.post("/v1/sentiment/batch", json={"texts": texts}).json()
    results = body["results"]
    assert [(r.get("model"), r.get("language")) for r in results] == [
        ("zh", "zh"),
        ("en", "en"),
        (None, None),
        (None, None),
        ("en", "en"),  # unsure: the default model reads it, as its language
        ("zh", "zh"),
    ]
    assert results[2]["error"]["code"] == "unsupported_language"
    assert results[3]["error"]["code"] == "invalid_text"
    assert results[0]["model_version"] != results[1]["model_version"]
    assert body["model"] == "en"  # the default: the request named none
    # each text's answer is the one its model gives alone
    alone = client.post("/v1/sentiment", json={"text": ZH}).json()
    assert results[0]["probabilities"] == alone["probabilities"]
    rows = {r["item_index"]: r for r in admin_rows(client) if r["endpoint"] == "sentiment/batch"}
    assert [(rows[i]["model"], rows[i]["language"], rows[i]["error_code"]) for i in range(6)] == [
        ("zh", "zh", None),
        ("en", "en", None),
        ("en", "fr", "unsupported_language"),
        ("en", None, "invalid_text"),
        ("en", "en", None),
        ("zh", "zh", None),
    ]


def test_a_language_no_model_reads_is_refused_naming_both(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"text": FR})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unsupported_language"
    assert "'fr'" in error["message"] and "en (en)" in error["message"] and "zh (zh)" in error["message"]
    (row,) = [r for r in admin_rows(client) if r["request_id"] == error["request_id"]]
    assert (row["status"], row["error_code"]) == (422, "unsupported_language")


def test_best_effort_answer_is_flagged(client: TestClient) -> None:
    body = client.post("/v1/sentiment", json={"text": FR, "unsupported_language": "answer"}).json()
    assert (body["model"], body["language"], body["supported"]) == ("en", "fr", False)
    batch = client.post("/v1/sentiment/batch", json={"texts": [FR, EN], "unsupported_language": "answer"}).json()
    assert [(r["language"], r["supported"]) for r in batch["results"]] == [("fr", False), ("en", True)]


def test_the_setting_makes_best_effort_the_default(build: Callable[..., TestClient]) -> None:
    with build({"en": "en", "zh": "zh"}, unsupported_language="answer") as client:
        body = client.post("/v1/sentiment", json={"text": FR}).json()
        assert (body["language"], body["supported"]) == ("fr", False)
        refused = client.post("/v1/sentiment", json={"text": FR, "unsupported_language": "refuse"})
        assert refused.status_code == 422


def test_a_named_language_or_model_wins_over_detection(client: TestClient) -> None:
    forced = client.post("/v1/sentiment", json={"text": EN, "language": "zh"}).json()
    assert (forced["model"], forced["language"]) == ("zh", "zh")
    named = client.post("/v1/sentiment", json={"text": ZH, "model": "en", "language": "en"}).json()
    assert (named["model"], named["language"]) == ("en", "en")
    unknown = client.post("/v1/sentiment", json={"text": EN, "language": "fr"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unsupported_language"
    bad = client.post("/v1/sentiment", json={"text": EN, "language": "English"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    # a named model that reads another language than the text's: refused, not a silent guess
    other = client.post("/v1/sentiment", json={"text": ZH, "model": "en"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "unsupported_language"


def test_short_english_texts_are_not_refused(client: TestClient) -> None:
    body = client.post("/v1/sentiment/batch", json={"texts": SHORT_ENGLISH}).json()
    refused = [t for t, r in zip(SHORT_ENGLISH, body["results"], strict=True) if "error" in r or not r["supported"]]
    assert refused == []
    assert {r["model"] for r in body["results"]} == {"en"}


def test_models_that_state_no_language_read_everything_undetected(build: Callable[..., TestClient]) -> None:
    with build({"any": "any"}) as client:
        body = client.post("/v1/sentiment", json={"text": FR}).json()
        assert (body["model"], body["language"], body["supported"]) == ("any", None, True)
    with build({"en": "en", "any": "any"}) as client:  # the one that states none takes what en cannot read
        assert client.post("/v1/sentiment", json={"text": FR}).json()["model"] == "any"
        assert client.post("/v1/sentiment", json={"text": EN}).json()["model"] == "en"


def test_one_english_model_refuses_french(build: Callable[..., TestClient]) -> None:
    with build({"sentiment": "en"}) as client:
        assert client.post("/v1/sentiment", json={"text": FR}).status_code == 422
        assert client.post("/v1/sentiment", json={"text": "meh"}).json()["language"] == "en"


def test_no_settings_serve_both_shipped_models() -> None:
    served = Settings(_env_file=None).served_models()  # type: ignore[call-arg]
    assert served == {"sentiment": None, SHIPPED_ZH_NAME: ZH_MODEL_DIR}
    assert list(Settings(_env_file=None, model_dir=ZH_MODEL_DIR).served_models()) == ["sentiment"]  # type: ignore[call-arg]


def test_stats_and_drift_count_texts_by_language(client: TestClient) -> None:
    client.post("/v1/sentiment/batch", json={"texts": [ZH, ZH, EN, FR]})
    admin_rows(client)  # written
    stats = client.get("/v1/stats", params={"window": "1h"}, headers={"X-API-Key": ADMIN}).json()
    assert stats["languages"] == {"zh": 2, "en": 1, "fr": 1}
    assert stats["errors_by_code"] == {"unsupported_language": 1}
    assert stats["drift"]["features"]["language_mix"]["current_rows"] == 4


def test_a_text_that_only_leans_to_another_language_is_answered_flagged(client: TestClient) -> None:
    text = "Una película maravillosa, me encantó de principio a fin."  # es at about 0.7: not sure enough to refuse
    body = client.post("/v1/sentiment", json={"text": text}).json()
    assert (body["model"], body["language"], body["supported"]) == ("en", "es", False)


def test_a_canary_answers_its_models_share_of_a_routed_batch(client: TestClient, artifacts: dict[str, Path]) -> None:
    auth = {"X-API-Key": ADMIN}
    body = {"model_dir": str(artifacts["en2"]), "shadow_percent": 0, "canary_percent": 100}
    assert client.put("/v1/models/en/candidate", json=body, headers=auth).status_code == 200
    candidate = client.get("/v1/models/en/candidate", headers=auth).json()["candidate"]["version"]
    results = client.post("/v1/sentiment/batch", json={"texts": [EN, ZH]}).json()["results"]
    assert [(r["model"], r["language"]) for r in results] == [("en", "en"), ("zh", "zh")]
    assert results[0]["model_version"] == candidate != results[1]["model_version"]  # only en has a candidate
    rows = {r["item_index"]: r for r in admin_rows(client) if r["endpoint"] == "sentiment/batch"}
    assert [(rows[i]["model"], rows[i]["role"], rows[i]["language"]) for i in (0, 1)] == [
        ("en", "canary", "en"),
        ("zh", "primary", "zh"),
    ]
