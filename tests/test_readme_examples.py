"""Every example answer in the README comes from the shipped model as it is.

Each `curl` example whose body holds a `"text"` is followed by the answer it shows, as `#` comment
lines; the first `"label"` there is the text's label and, with `"sentences": true`, the next ones
are its sentences' labels, in order. The OIP and client examples list their texts' labels the same
way. They are run through the shipped model (no server: the same Predictor serves them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model import load_predictor

README = Path(__file__).resolve().parent.parent / "README.md"
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
            if "text" in body:
                found.append((n + 1, body, _LABEL.findall(" ".join(answer))))
    return found


EXAMPLES = curl_examples()


def test_the_readme_has_examples_to_check() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("line", "body", "labels"), EXAMPLES, ids=[f"README:{e[0]}" for e in EXAMPLES])
def test_readme_answer_labels_are_the_shipped_models(line: int, body: dict[str, object], labels: list[str]) -> None:
    predictor = load_predictor()
    text = str(body["text"])
    (prediction,) = predictor.predict([text])
    shown = [prediction.label]
    if body.get("sentences"):
        shown += [s.prediction.label for s in predictor.sentences([text])[0]]
    assert labels, f"README line {line}: the answer shows no label"
    assert shown[: len(labels)] == labels, f"README line {line}: {text!r} answers {shown}, the README shows {labels}"


def test_oip_and_client_examples_show_the_shipped_models_labels() -> None:
    text = README.read_text(encoding="utf-8")
    pairs = re.findall(r'"data": \[("[^\]]+")\]\}\],.*?"data":\[("[^\]]+")\]', text, re.S)
    assert pairs, "the OIP infer example was not found"
    predictor = load_predictor()
    for texts, labels in pairs:
        inputs, shown = json.loads(f"[{texts}]"), json.loads(f"[{labels}]")
        assert [p.label for p in predictor.predict(inputs)] == shown
