"""Every example answer in the README comes from the shipped model as it is.

Each `curl` example whose body holds a `"text"` is followed by the answer it shows, as `#` comment
lines; the first `"label"` there is the text's label and, with `"sentences": true`, the next ones
are its sentences' labels, in order (an answer that shows no label, `"label":…`, is not checked).
The OIP infer example lists its texts' labels the same way. The bodies are sent as they stand to
the service as a fresh `make run` serves it (both shipped models, routed by language), beside the
models the README's `SENTIMENT_MODELS=` lines name from the repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model import load_predictor
from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BODY = re.compile(r"-d '(\{.*?\})'", re.S)
_LABEL = re.compile(r'"label":"(\w+)"')


def curl_examples() -> list[tuple[int, dict[str, object], list[str]]]:
    """(line, request body, labels shown in the answer) for each curl example with a text."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found = []
    for n, line in enumerate(lines):
        if not line.startswith("curl ") or "/v1/sentiment" not in line:
            continue
        command, k = line, n + 1
        while command.rstrip().endswith("\\") and k < len(lines):
            command += "\n" + lines[k]
            k += 1
        answer = []
        while k < len(lines) and lines[k].startswith("#"):
            answer.append(lines[k])
            k += 1
        match = _BODY.search(command)
        if match and answer:
            body = json.loads(match.group(1))
            labels = _LABEL.findall(" ".join(answer))
            if "text" in body and labels:
                found.append((n + 1, body, labels))
    return found


def model_dirs() -> dict[str, str]:
    """name -> directory, from every `SENTIMENT_MODELS=name=dir,...` in the README."""
    named: dict[str, str] = {}
    for value in re.findall(r"SENTIMENT_MODELS=(\S+)", README.read_text(encoding="utf-8")):
        for pair in value.split(","):
            name, _, directory = pair.partition("=")
            named[name] = directory
    return named


EXAMPLES = curl_examples()


def test_the_readme_has_examples_to_check() -> None:
    assert len(EXAMPLES) >= 4


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service with no settings, plus the shipped artifacts the README serves by other names."""
    served = Settings(_env_file=None).served_models()  # type: ignore[call-arg]
    models = {name: directory or ROOT / "model" / "default" for name, directory in served.items()}
    models |= {name: ROOT / d for name, d in model_dirs().items() if (ROOT / d).is_dir() and name not in models}
    database = tmp_path_factory.mktemp("readme") / "log.db"
    settings = Settings(_env_file=None, models=models, database_url=f"sqlite:///{database}")  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(("line", "body", "labels"), EXAMPLES, ids=[f"README:{e[0]}" for e in EXAMPLES])
def test_readme_answer_labels_are_the_shipped_models(
    service: TestClient, line: int, body: dict[str, object], labels: list[str]
) -> None:
    response = service.post("/v1/sentiment", json=body)
    assert response.status_code == 200, f"README line {line}: {response.text}"
    answer = response.json()
    shown = [answer["label"], *(s["label"] for s in answer.get("sentences") or [])]
    text = body["text"]
    assert shown[: len(labels)] == labels, f"README line {line}: {text!r} answers {shown}, the README shows {labels}"


def test_oip_and_client_examples_show_the_shipped_models_labels() -> None:
    text = README.read_text(encoding="utf-8")
    pairs = re.findall(r'"data": \[("[^\]]+")\]\}\],.*?"data":\[("[^\]]+")\]', text, re.S)
    assert pairs, "the OIP infer example was not found"
    predictor = load_predictor()
    for texts, labels in pairs:
        inputs, shown = json.loads(f"[{texts}]"), json.loads(f"[{labels}]")
        assert [p.label for p in predictor.predict(inputs)] == shown
