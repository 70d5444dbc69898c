"""`train --precision bf16`: forward passes under autocast; it learns as fp32 does on the same task."""

from pathlib import Path

import pytest
import torch

from tests.conftest import synthetic_task
from training import train as train_module
from training.train import autocast, train, train_precision


def _run(tmp_path: Path, precision: str) -> dict[str, object]:
    examples, settings = synthetic_task(precision=precision)
    return train(examples, tmp_path / precision, settings)


def test_bf16_training_learns_as_fp32_does(tmp_path: Path) -> None:
    fp32, bf16 = _run(tmp_path, "fp32"), _run(tmp_path, "bf16")
    accuracy = {name: m["validation"]["accuracy"] for name, m in (("fp32", fp32), ("bf16", bf16))}  # type: ignore[index]
    assert accuracy["bf16"] >= 0.9 and accuracy["bf16"] >= accuracy["fp32"] - 0.05, accuracy  # chance is 0.5
    assert bf16["settings"]["precision"] == bf16["precision"] == "bf16"  # type: ignore[index]


def test_autocast_runs_the_matrix_products_in_bf16_and_refuses_other_precisions() -> None:
    cpu = torch.device("cpu")
    with autocast(cpu, "bf16"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast(cpu, "fp16")


def test_auto_trains_in_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(train_module, "fast_on_this_cpu", lambda precision: True)
    assert train_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(train_module, "fast_on_this_cpu", lambda precision: False)
    assert train_precision("auto", cpu) == "fp32"
    assert train_precision("bf16", cpu) == "bf16" and train_precision("fp32", cpu) == "fp32"
