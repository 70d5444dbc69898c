"""`python -m training explain`: JSON for scripts, coloured words for people."""

import json
from pathlib import Path

import pytest

from training.__main__ import main


def test_json_gives_the_prediction_and_a_weight_per_token(
    tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["explain", "--model", str(tiny_artifact), "--json", "--sentences", "The movie was GOOD. Bad plot!"]) == 0
    )
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    text = "The movie was GOOD. Bad plot!"
    assert document["label"] in ("negative", "positive")
    assert document["explanation"]["method"] == "occlusion"
    assert [text[t["start"] : t["end"]] for t in document["explanation"]["tokens"]] == [
        "The", "movie", "was", "GOOD", ".", "Bad", "plot", "!",
    ]  # fmt: skip
    assert [(s["start"], s["end"]) for s in document["sentences"]] == [(0, 19), (20, 29)]
    # polarity of the text and of each sentence, and mixed by the service's own rule
    polarities = [s["polarity"] for s in document["sentences"]]
    assert all(-1 <= p <= 1 for p in [document["polarity"], *polarities])
    assert document["mixed"] == (max(polarities) >= 0.5 and min(polarities) <= -0.5)


def test_terminal_output_and_file_input(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a good movie\n\nan awful plot\n", encoding="utf-8")
    assert main(["explain", "--model", str(tiny_artifact), "--file", str(texts)]) == 0
    out = capsys.readouterr().out
    assert "a good movie" in out and "an awful plot" in out and "strongest:" in out
    assert main(["explain", "--model", str(tiny_artifact)]) == 2  # nothing to explain
