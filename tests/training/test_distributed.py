"""`torchrun --nproc-per-node 2 -m training train`: two CPU processes train one model together."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from model import load_predictor
from tests.conftest import synthetic_reviews
from tests.training.test_train_cli import ROOT, _csv
from training.__main__ import main


def _args(data: Path, out: Path) -> list[str]:
    # no dropout: then the two processes' steps are the single process's steps, up to float rounding;
    # fp32: bf16's coarser rounding of two half-batches and one whole batch differs by more than that
    return ["train", "--data", str(data), "--out", str(out), "--init-vectors", "none", "--embedding-dim", "16",
            "--hidden-size", "16", "--min-freq", "1", "--epochs", "2", "--patience", "2", "--batch-size", "16",
            "--lr", "5e-3", "--max-tokens", "40", "--head-tokens", "10", "--dropout", "0", "--embedding-dropout",
            "0", "--threads", "1", "--no-calibrate", "--precision", "fp32"]  # fmt: skip


def test_two_processes_train_what_one_process_trains(tmp_path: Path) -> None:
    data = _csv(tmp_path / "reviews.csv", synthetic_reviews(400))
    logs = tmp_path / "logs"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "--log-dir", str(logs), "--redirects", "1", "-m", "training", *_args(data, tmp_path / "two")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    # 400 short texts: the sentence-level split holds out whole texts and drops from training those
    # that are runs of words inside a held-out one
    split = metrics["split"]["sources"]["reviews"]
    held = split["val_sentences"] + split["dropped_sub_phrases_of_val"]
    assert metrics["processes"] == 2 and metrics["train_examples"] == 400 - held == split["train_texts"]
    assert metrics["validation"]["accuracy"] >= 0.8  # chance is 0.5: it learned
    predictor = load_predictor(tmp_path / "two")
    assert predictor.predict(["the movie was great"])[0].label == "positive"
    # rank 0 alone reported (and wrote: rank 1 returns before the export)
    outputs = {p.parent.name: p.read_text() for p in logs.rglob("stdout.log")}
    assert sorted(outputs) == ["0", "1"]
    assert json.loads(outputs["0"])["version"] == predictor.version and outputs["1"] == ""

    assert main(_args(data, tmp_path / "one")) == 0
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert one["processes"] == 1 and one["validation"]["accuracy"] == metrics["validation"]["accuracy"]
    weights_one = load_file(tmp_path / "one" / "weights.safetensors")
    weights_two = load_file(tmp_path / "two" / "weights.safetensors")
    for name, tensor in weights_one.items():
        torch.testing.assert_close(weights_two[name], tensor, atol=1e-4, rtol=1e-3)
