"""`train --tokenizer`: the artifact records the tokenizer it was trained with, and serves with it."""

import csv
import json
from pathlib import Path

import pytest

from model import load_predictor
from training.__main__ import main

TINY = ["--batch-size", "16", "--embedding-dim", "8", "--hidden-size", "8", "--min-freq", "1", "--threads", "1"]
TINY += ["--max-tokens", "40", "--head-tokens", "10", "--init-vectors", "none", "--epochs", "1"]


def _tweets(path: Path, n: int = 60) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            if i % 2:
                writer.writerow([f"@friend SOOO happy today :-) #BestDay {i}", "positive"])
            else:
                writer.writerow([f"worst day ever :( http://t.co/x{i} #fail", "negative"])
    return path


def _config(artifact: Path) -> dict[str, object]:
    return dict(json.loads((artifact / "config.json").read_text()))


def _vocab(artifact: Path) -> set[str]:
    return set(json.loads((artifact / "vocab.json").read_text())["tokens"])


@pytest.fixture(scope="module")
def social(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("social")
    data = _tweets(root / "tweets.csv")
    out = root / "artifact"
    assert main(["train", "--data", str(data), "--out", str(out), "--tokenizer", "social-v1", *TINY]) == 0
    return out, data


def test_train_records_the_tokenizer_and_serving_reads_with_it(social: tuple[Path, Path]) -> None:
    artifact, _ = social
    assert _config(artifact)["tokenizer"] == "social-v1"
    assert {"<user>", "<caps>", "<elong>", "<url>", ":)", ":(", "best", "day"} <= _vocab(artifact)
    predictor = load_predictor(artifact, runtime="onnx")
    assert predictor.encode("SOOO happy :-)").ids == predictor.artifact.vocab.encode(
        ["<caps>", "<elong>", "soo", "happy", ":)"]
    )


def test_the_default_is_the_english_rules(tmp_path: Path) -> None:
    data = _tweets(tmp_path / "tweets.csv")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "a"), *TINY]) == 0
    assert _config(tmp_path / "a")["tokenizer"] == "regex-word-v1"
    assert "<user>" not in _vocab(tmp_path / "a")


def test_fine_tuning_keeps_the_artifacts_tokenizer_unless_told(social: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, data = social
    args = ["train", "--init-from", str(artifact), "--data", str(data), *TINY]
    assert main([*args, "--out", str(tmp_path / "kept")]) == 0
    assert _config(tmp_path / "kept")["tokenizer"] == "social-v1"
    assert main([*args, "--out", str(tmp_path / "other"), "--tokenizer", "regex-word-v1"]) == 0
    assert _config(tmp_path / "other")["tokenizer"] == "regex-word-v1"
    grown = _vocab(tmp_path / "other") - _vocab(artifact)
    assert {"@", "friend", "http"} <= grown  # regex-word-v1's tokens joined the vocabulary
    assert load_predictor(tmp_path / "other", runtime="onnx").predict(["@friend :)"])[0].unknown_tokens == 0


def test_an_unknown_tokenizer_is_refused_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tweets(tmp_path / "tweets.csv")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "x"), "--tokenizer", "bpe", *TINY]) == 2
    assert "known: regex-word-v1, social-v1, cjk-v1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_pretraining_reads_with_the_tokenizer_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imdb = tmp_path / "imdb"
    folder = imdb / "aclImdb" / "train" / "unsup"
    folder.mkdir(parents=True)
    for i in range(40):
        (folder / f"{i}_0.txt").write_text(f"SOOO GOOD :-) {i}" if i % 2 else f"so bad :( {i}")
    out = tmp_path / "lm"
    args = ["pretrain-lm", "--imdb", str(imdb), "--out", str(out), "--epochs", "1", "--workers", "1"]
    args += ["--embedding-dim", "8", "--hidden-size", "8", "--device", "cpu", "--tokenizer", "social-v1"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["tokenizer"] == "social-v1"
    words = json.loads((out / "words.json").read_text())["words"]
    assert {"<caps>", "<elong>", ":)", ":("} <= set(words)


def test_a_cjk_model_trains_serves_and_explains_with_exact_offsets(tmp_path: Path) -> None:
    data = tmp_path / "zh.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(60):
            writer.writerow(
                [f"这本书很好看{i}" if i % 2 else f"质量太差了，很失望{i}", "positive" if i % 2 else "negative"]
            )
    out = tmp_path / "zh"
    assert main(["train", "--data", str(data), "--out", str(out), "--tokenizer", "cjk-v1", *TINY]) == 0
    assert _config(out)["tokenizer"] == "cjk-v1"
    assert {"很", "很好", "失望"} <= _vocab(out)
    predictor = load_predictor(out, runtime="onnx")
    text = "iPhone 很好，不失望!"
    (explanation,) = predictor.explain([text])
    typed = [(t.text, text[t.start : t.end]) for t in explanation.tokens]
    assert typed[:4] == [("iphone", "iPhone"), ("很", "很"), ("很好", "很好"), ("好", "好")]
    assert all(text[t.start : t.end] == t.text for t in explanation.tokens[1:] if t.text != ",")
    assert explanation.prediction.unknown_tokens < explanation.prediction.tokens_used
