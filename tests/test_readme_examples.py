"""Every example answer in the README comes from the shipped model as it is.

Each `curl` example whose body holds a `"text"` is followed by the answer it shows, as `#` comment
lines; the first `"label"` there is the text's label and, with `"sentences": true`, the next ones
are its sentences' labels, in order (an answer that shows no label, `"label":…`, is not checked).
The OIP infer example lists its texts' labels the same way. They are run through the shipped
models (no server: the same Predictor serves them); a body's `"model"` is looked up in the
README's `SENTIMENT_MODELS=` lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model import load_predictor

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


@pytest.mark.parametrize(("line", "body", "labels"), EXAMPLES, ids=[f"README:{e[0]}" for e in EXAMPLES])
def test_readme_answer_labels_are_the_shipped_models(line: int, body: dict[str, object], labels: list[str]) -> None:
    model = body.get("model")
    if model is None:
        predictor = load_predictor()
    else:
        directory = model_dirs().get(str(model))
        assert directory and (ROOT / directory).is_dir(), f"README line {line}: model {model!r} is not shipped"
        predictor = load_predictor(ROOT / directory)
    text = str(body["text"])
    (prediction,) = predictor.predict([text])
    shown = [prediction.label]
    if body.get("sentences"):
        shown += [s.prediction.label for s in predictor.sentences([text])[0]]
    assert shown[: len(labels)] == labels, f"README line {line}: {text!r} answers {shown}, the README shows {labels}"


def test_oip_and_client_examples_show_the_shipped_models_labels() -> None:
    text = README.read_text(encoding="utf-8")
    pairs = re.findall(r'"data": \[("[^\]]+")\]\}\],.*?"data":\[("[^\]]+")\]', text, re.S)
    assert pairs, "the OIP infer example was not found"
    predictor = load_predictor()
    for texts, labels in pairs:
        inputs, shown = json.loads(f"[{texts}]"), json.loads(f"[{labels}]")
        assert [p.label for p in predictor.predict(inputs)] == shown
