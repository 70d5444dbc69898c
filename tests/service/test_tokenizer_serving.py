"""A model trained with another tokenizer than the default is served reading text its own way."""

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.model.test_tokenizers import _artifact


def test_a_social_model_answers_and_explains_with_offsets_into_the_text(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    model_dir = _artifact(tmp_path / "social", "social-v1")
    text = "SOOO good :-) @bob"
    with TestClient(create_app(settings_for(model_dir=model_dir))) as client:
        plain = client.post("/v1/sentiment", json={"text": text})
        explained = client.post("/v1/sentiment", json={"text": text, "explain": True})
        info = client.get("/v1/model").json()
    assert plain.status_code == 200 and explained.status_code == 200, explained.text
    assert plain.json()["tokens_used"] == 6 and info["config"]["tokenizer"] == "social-v1"
    tokens = explained.json()["explanation"]["tokens"]
    assert [(t["text"], text[t["start"] : t["end"]]) for t in tokens] == [
        ("<caps>", "SOOO"),
        ("<elong>", "SOOO"),
        ("soo", "SOOO"),
        ("good", "good"),
        (":)", ":-)"),
        ("<user>", "@bob"),
    ]
