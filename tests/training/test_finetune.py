"""Fine-tuning from an artifact (`train --init-from`), replay of its own data, and the epoch tie rule."""

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from model import load_artifact, load_predictor
from model.tokenizer import UNK_ID
from tests.conftest import synthetic_reviews
from training.__main__ import main
from training.data import Example
from training.finetune import grow_vocab, start_from
from training.train import TrainSettings, is_better, train

TINY = ["--batch-size", "16", "--embedding-dim", "8", "--hidden-size", "8", "--min-freq", "1", "--threads", "1"]
TINY += ["--max-tokens", "40", "--head-tokens", "10", "--init-vectors", "none"]


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An artifact trained on a synthetic file, and that file."""
    root = tmp_path_factory.mktemp("base")
    data = _csv(root / "reviews.csv", synthetic_reviews(200, seed=1))
    assert main(["train", "--data", str(data), "--out", str(root / "artifact"), "--epochs", "2", *TINY]) == 0
    return root / "artifact", data


def _new_domain(n: int) -> list[tuple[str, str]]:
    """Tickets: new words carry the label, and a third label that the artifact does not know."""
    rows = []
    for i in range(n):
        kind = ("positive", "negative", "neutral")[i % 3]
        word = {"positive": "superb", "negative": "dreadful", "neutral": "tuesday"}[kind]
        rows.append((f"ticket {i % 7} was {word} the plot", kind))
    return rows


def test_grow_vocab_keeps_every_id_and_appends_frequent_new_words() -> None:
    from model import Vocab

    base = Vocab(("<pad>", "<unk>", "good", "bad"))
    grown = grow_vocab(base, [["good", "superb", "superb", "rare"], ["superb", "ok", "ok"]], min_freq=2, max_new=10)
    assert grown.tokens == ("<pad>", "<unk>", "good", "bad", "superb", "ok")
    assert grow_vocab(base, [["superb", "superb", "ok", "ok"]], min_freq=2, max_new=1).tokens[-1] == "ok"


def test_the_start_is_the_artifact_with_new_rows(base: tuple[Path, Path]) -> None:
    artifact = load_artifact(base[0])
    tokens = [["superb", "superb", "good"], ["dreadful", "dreadful"]]
    start = start_from(
        base[0],
        tokens,
        ["negative", "neutral", "positive"],
        min_freq=2,
        max_new_words=100,
        new_word_init="unk",
        vectors=None,
        seed=1,
    )
    old = artifact.network.state_dict()
    new = start.network.state_dict()
    n = len(artifact.vocab)
    assert start.vocab.tokens[:n] == artifact.vocab.tokens
    assert set(start.vocab.tokens[n:]) == {"superb", "dreadful"}
    assert torch.equal(new["embedding.weight"][:n], old["embedding.weight"])
    assert torch.equal(new["embedding.weight"][n], old["embedding.weight"][UNK_ID])  # read as before: unknown
    for key in old:
        if not key.startswith(("embedding.", "output.")):
            assert torch.equal(new[key], old[key]), key
    # the artifact's labels keep their rows; a new neutral goes between negative and positive
    assert start.network.config.labels == ["negative", "neutral", "positive"]
    assert torch.equal(new["output.weight"][[0, 2]], old["output.weight"])
    assert torch.equal(new["output.bias"][[0, 2]], old["output.bias"])
    assert new["output.bias"][1] == old["output.bias"].min()  # the new label starts least likely
    assert new["output.weight"].shape[0] == 3
    assert start.report["new_words"] == 2 and start.report["new_labels"] == ["neutral"]


def test_fine_tune_adds_words_and_a_label_and_serves(base: tuple[Path, Path], tmp_path: Path) -> None:
    data = _csv(tmp_path / "tickets.csv", _new_domain(90))
    out = tmp_path / "tuned"
    args = ["train", "--init-from", str(base[0]), "--data", str(data), "--out", str(out), "--epochs", "12"]
    args += ["--lr", "0.02", "--encoder-lr-scale", "1", "--patience", "12", "--min-freq", "1", "--threads", "1"]
    assert main(args) == 0
    tuned = load_artifact(out)
    assert tuned.config.labels == ["negative", "neutral", "positive"]
    assert {"superb", "dreadful", "tuesday"} <= set(tuned.vocab.tokens)
    assert tuned.config.hidden_size == 8  # the artifact's network, whatever the defaults say
    assert tuned.metrics["init_from"]["version"] == load_artifact(base[0]).version
    predictor = load_predictor(out)
    labels = [p.label for p in predictor.predict(["ticket 3 was superb the plot", "ticket 1 was tuesday the plot"])]
    assert labels == ["positive", "neutral"]


def test_replay_finds_the_artifacts_data_by_checksum_and_reports_before_after(
    base: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    shutil.copy(base[1], elsewhere / "renamed.csv")  # found by its SHA-256, not its name
    data = _csv(tmp_path / "tickets.csv", _new_domain(30))
    out = tmp_path / "tuned"
    args = ["train", "--init-from", str(base[0]), "--data", str(data), "--out", str(out), "--epochs", "1"]
    args += ["--replay", "40", "--replay-from", str(elsewhere), "--threads", "1"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    base_metrics = json.loads((base[0] / "metrics.json").read_text())
    replay = metrics["replay"]
    assert replay["rows"] == 40 and replay["files"][0]["found_at"] == "renamed.csv"
    # the artifact's own validation rows, reproduced from its split: the same count, the same score before
    assert replay["original_val_rows"] == base_metrics["val_examples"]
    assert replay["original_val_before"]["accuracy"] == pytest.approx(base_metrics["validation"]["accuracy"])
    assert set(summary["original_validation"]) == {"before", "after", "rows"}
    own = metrics["split"]["sources"]["tickets"]["train_texts"]
    assert metrics["train_examples"] == own + 40  # the new data's training rows, plus the replayed rows


def test_replay_refuses_a_file_of_that_name_with_other_content(
    base: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    _csv(elsewhere / base[1].name, synthetic_reviews(200, seed=2))  # same name, other rows
    data = _csv(tmp_path / "tickets.csv", _new_domain(30))
    args = ["train", "--init-from", str(base[0]), "--data", str(data), "--out", str(tmp_path / "x"), "--epochs", "1"]
    assert main([*args, "--replay", "10", "--replay-from", str(elsewhere)]) == 2
    err = capsys.readouterr().err
    assert f"{elsewhere / base[1].name}: SHA-256" in err and "not the artifact's reviews.csv" in err
    assert not (tmp_path / "x").exists()
    assert main([*args, "--replay", "10", "--replay-from", str(tmp_path / "nowhere")]) == 2
    assert "is not among" in capsys.readouterr().err


def test_replay_needs_init_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _csv(tmp_path / "d.csv", synthetic_reviews(40))
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "x"), "--replay", "5", *TINY]) == 2
    assert "--replay" in capsys.readouterr().err


def test_ties_keep_the_lower_loss_or_the_later_epoch() -> None:
    assert is_better(0.9, 0.5, 0.8, 0.1, "loss")  # a higher score always wins
    assert not is_better(0.7, 0.01, 0.8, 0.1, "loss")
    assert is_better(1.0, 0.2, 1.0, 0.3, "loss") and not is_better(1.0, 0.4, 1.0, 0.3, "loss")
    assert is_better(1.0, 0.4, 1.0, 0.3, "later")


def test_a_validation_tie_keeps_the_more_trained_epoch(tmp_path: Path) -> None:
    """The reported trap: validation tied at 1.0 over epochs kept epoch 1 (the least trained weights)."""
    examples = [Example(t, label, "s") for t, label in synthetic_reviews(300, seed=3)]
    tiny = {"embedding_dim": 8, "hidden_size": 8, "max_tokens": 40, "head_tokens": 10}
    settings = TrainSettings(epochs=5, batch_size=16, lr=2e-2, patience=5, min_freq=1, threads=1, model=tiny)
    metrics = train(examples, tmp_path / "out", settings)
    history = metrics["history"]
    top = max(h["val_selection_score"] for h in history)
    tied = [h for h in history if h["val_selection_score"] == top]
    assert len(tied) >= 2  # the case under test: several epochs share the best score
    assert metrics["best_epoch"] == min(tied, key=lambda h: h["val_loss"])["epoch"]
    assert metrics["best_epoch"] != tied[0]["epoch"]


def test_early_stop_message_only_when_training_stopped_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _csv(tmp_path / "d.csv", synthetic_reviews(60))
    flat = ["--lr", "0", "--patience", "1", *TINY]  # nothing learns: every epoch after the first is stale
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "a"), "--epochs", "2", *flat]) == 0
    assert "early stop" not in capsys.readouterr().err  # epoch 2 was the last one anyway
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "b"), "--epochs", "4", *flat]) == 0
    err = capsys.readouterr().err
    assert "early stop after epoch 2" in err


def test_replay_finds_the_same_rows_in_a_file_that_differs_byte_for_byte(
    base: tuple[Path, Path], tmp_path: Path
) -> None:
    """A mirror's archive may differ from the publisher's and hold the same rows: metrics.json's data_rows match it."""
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    rows = list(reversed(synthetic_reviews(200, seed=1)))  # the same rows, in another order: another SHA-256
    _csv(elsewhere / base[1].name, rows)
    data = _csv(tmp_path / "tickets.csv", _new_domain(30))
    out = tmp_path / "tuned"
    args = ["train", "--init-from", str(base[0]), "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert main([*args, "--replay", "10", "--replay-from", str(elsewhere), "--threads", "1"]) == 0
    replay = json.loads((out / "metrics.json").read_text())["replay"]
    assert replay["files"][0]["found_at"] == base[1].name
    assert replay["original_val_rows"] == json.loads((base[0] / "metrics.json").read_text())["val_examples"]


def test_label_order_puts_a_new_neutral_between_negative_and_positive() -> None:
    from training.finetune import label_order

    assert label_order(["negative", "positive"], ["neutral"]) == ["negative", "neutral", "positive"]
    assert label_order(["positive", "negative"], ["neutral", "positive"]) == ["positive", "neutral", "negative"]
    assert label_order(["bug", "feature"], ["question", "neutral"]) == ["bug", "feature", "neutral", "question"]
    assert label_order(["negative", "neutral", "positive"], ["neutral"]) == ["negative", "neutral", "positive"]


def test_calibration_can_move_only_the_added_labels() -> None:
    from model import BiLSTMClassifier, ModelConfig
    from training.train import Encoded, calibrate_bias

    torch.manual_seed(0)
    network = BiLSTMClassifier(ModelConfig(vocab_size=20, labels=["negative", "neutral", "positive"], hidden_size=4))
    with torch.no_grad():
        network.output.bias.copy_(torch.tensor([0.0, -1.0, 0.0]))  # neutral never wins before calibration
    rows = [[2 + i % 15, 3 + i % 7] for i in range(60)]
    data = Encoded(rows, [1] * 60, ["vader:tweets"] * 60, [0.0] * 60)  # every row neutral
    before = network.output.bias.detach().clone()
    result = calibrate_bias(network, data, 16, torch.device("cpu"), only=[1])
    after = network.output.bias.detach()
    assert after[0] == before[0] and after[2] == before[2]
    assert result["offsets"][1] > 0 and result["score_after"] > result["score_before"]


def test_a_model_fine_tuned_with_replay_replays_both_its_data_and_its_starts(
    base: tuple[Path, Path], tmp_path: Path
) -> None:
    """Replayed files are the tuned model's training data too: a second fine-tune replays them, split as
    the first artifact split them (its own --val-fraction), beside the first fine-tune's own data."""
    data = _csv(tmp_path / "tickets.csv", _new_domain(60))
    first = tmp_path / "first"
    args = ["train", "--init-from", str(base[0]), "--data", str(data), "--out", str(first), "--epochs", "1"]
    args += ["--replay", "40", "--replay-from", str(base[1].parent), "--val-fraction", "0.3", "--threads", "1"]
    assert main(args) == 0
    metrics = json.loads((first / "metrics.json").read_text())
    inherited = [d for d in metrics["data"] if d.get("via") == "replay"]
    assert [d["file"] for d in inherited] == [base[1].name]
    assert inherited[0]["split_settings"] == {"val_fraction": 0.1, "seed": 13}
    assert set(metrics["data_rows"]) == {"tickets", "reviews"} and "reviews" in metrics["split"]["sources"]
    more = _csv(tmp_path / "more.csv", _new_domain(30))
    second = tmp_path / "second"
    args = ["train", "--init-from", str(first), "--data", str(more), "--out", str(second), "--epochs", "1"]
    args += ["--replay", "20", "--replay-from", str(base[1].parent), "--replay-from", str(tmp_path), "--threads", "1"]
    assert main(args) == 0
    replay = json.loads((second / "metrics.json").read_text())["replay"]
    assert set(replay["rows_by_source"]) == {"tickets", "reviews"}
    base_val = json.loads((base[0] / "metrics.json").read_text())["val_examples"]
    assert replay["original_val_rows_by_source"]["reviews"] == base_val  # the base's split, reproduced
    tickets = metrics["split"]["sources"]["tickets"]
    assert replay["original_val_rows_by_source"]["tickets"] == tickets.get("val_texts", tickets.get("val_sentences"))
