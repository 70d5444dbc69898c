"""Distillation plumbing: the transfer-set file, the cached teacher logits, the student's loss.

Stages (each one command, each output checksummed, times recorded):

1. `teacher-train` (training/teacher.py) fine-tunes the teacher on the training split.
2. `transfer-set` writes `transfer.jsonl` (one {"text", "kind", "source", "label"?} per line) and
   `transfer.json` (its manifest: SHA-256, counts per kind, the split it was built from, cost).
3. `teacher-logits` scores every line with the teacher into `logits.safetensors`, whose metadata
   names the transfer file's SHA-256 and row count, the labels and the teacher.
4. `train --transfer transfer.jsonl --teacher-logits logits.safetensors` trains the student on hard
   labels plus the teacher's logits; it never loads the teacher. A cache that does not match its
   transfer file, its labels or the training split is refused with a message saying why.

This module imports torch and safetensors only: `transformers` stays in training/teacher.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from training.augment import MASK
from training.data import DataError, file_sha256

KINDS = ("labelled", "augmented", "unlabelled_sentence", "unlabelled_review")
STUDENT_MASK = "xxmask"  # not in the student's vocabulary (built from labelled text): read as unknown


class CacheError(DataError):
    """A transfer set or logits cache that does not match what it is used with."""


@dataclass
class TransferRow:
    text: str
    kind: str
    source: str
    label: str | None = None


def manifest_path(transfer: str | Path) -> Path:
    path = Path(transfer)
    return path.with_name(path.name.removesuffix(".jsonl") + ".json")


def write_transfer(path: str | Path, rows: Sequence[TransferRow], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the rows as JSONL and the manifest beside it; returns the manifest."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {"text": row.text, "kind": row.kind, "source": row.source}
            if row.label is not None:
                record["label"] = row.label
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.kind] = counts.get(row.kind, 0) + 1
    full = {
        **manifest,
        "file": out.name,
        "sha256": file_sha256(out),
        "rows": len(rows),
        "rows_by_kind": counts,
        "words": sum(len(r.text.split()) for r in rows),
    }
    manifest_path(out).write_text(json.dumps(full, indent=2) + "\n")
    return full


def read_transfer(path: str | Path) -> tuple[list[TransferRow], dict[str, Any]]:
    """Read a transfer set and its manifest; refuse one whose file changed since it was written."""
    src = Path(path)
    meta_path = manifest_path(src)
    if not src.exists():
        raise CacheError(f"{src}: no such transfer set; make it with `python -m training transfer-set`")
    if not meta_path.exists():
        raise CacheError(f"{src}: its manifest {meta_path.name} is missing")
    manifest = json.loads(meta_path.read_text())
    if file_sha256(src) != manifest["sha256"]:
        raise CacheError(f"{src}: its SHA-256 does not match {meta_path.name} (the file changed after it was made)")
    rows = []
    with src.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            try:
                raw = json.loads(line)
                rows.append(TransferRow(raw["text"], raw["kind"], raw["source"], raw.get("label")))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CacheError(f"{src}:{line_no}: not a transfer row ({exc})") from None
    return rows, manifest


def save_logits(
    path: str | Path, logits: torch.Tensor, *, transfer: str | Path, labels: Sequence[str], teacher: dict[str, Any]
) -> dict[str, Any]:
    """Write the teacher's logits for every transfer row, with what they were computed from."""
    meta = {
        "transfer_file": Path(transfer).name,
        "transfer_sha256": file_sha256(transfer),
        "rows": str(logits.shape[0]),
        "labels": json.dumps(list(labels)),
        "teacher": json.dumps(teacher),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"logits": logits.float().contiguous()}, str(out), metadata=meta)
    return {**meta, "sha256": file_sha256(out), "bytes": out.stat().st_size}


def load_logits(path: str | Path, *, transfer: str | Path, labels: Sequence[str]) -> torch.Tensor:
    """The cached logits, refused unless they were computed on exactly `transfer` with these labels."""
    from safetensors import safe_open

    src = Path(path)
    if not src.exists():
        raise CacheError(f"{src}: no such logits cache; make it with `python -m training teacher-logits`")
    with safe_open(str(src), framework="pt") as handle:
        meta = handle.metadata() or {}
    if meta.get("transfer_sha256") != file_sha256(transfer):
        raise CacheError(
            f"{src}: computed on a transfer set with another SHA-256 than {Path(transfer).name}; "
            "run teacher-logits again on this transfer set"
        )
    cached_labels = json.loads(meta.get("labels", "[]"))
    if cached_labels != list(labels):
        raise CacheError(f"{src}: teacher labels {cached_labels} differ from the student's {list(labels)}")
    logits = load_file(str(src))["logits"]
    if logits.shape[0] != int(meta.get("rows", -1)) or logits.dim() != 2 or logits.shape[1] != len(labels):
        raise CacheError(f"{src}: holds {tuple(logits.shape)} logits, not one row of {len(labels)} per transfer row")
    return logits


def reusable_logits(
    cache: str | Path, transfer: str | Path, *, labels: Sequence[str], teacher_sha256: str, max_length: int
) -> dict[str, torch.Tensor]:
    """Text -> logits of an earlier cache, refused unless the same teacher made it at `max_length`.

    Caches written before their metadata named `max_length` were made at the default, 128.
    """
    from safetensors import safe_open

    logits = load_logits(cache, transfer=transfer, labels=labels)
    with safe_open(str(cache), framework="pt") as handle:
        teacher = json.loads((handle.metadata() or {}).get("teacher", "{}"))
    if teacher.get("model_sha256") != teacher_sha256:
        made_by = teacher.get("model_sha256")
        raise CacheError(f"{cache}: made by another teacher (model SHA-256 {made_by}); cannot reuse")
    if teacher.get("max_length", 128) != max_length:
        raise CacheError(f"{cache}: made at --max-length {teacher.get('max_length', 128)}, not {max_length}")
    rows, _ = read_transfer(transfer)
    return {row.text: logits[i] for i, row in enumerate(rows)}


def student_text(text: str) -> str:
    """A transfer text as the student reads it: the teacher's mask token becomes an unknown word."""
    return text.replace(MASK, STUDENT_MASK)


def distill_loss(
    student: torch.Tensor,
    target: torch.Tensor,
    teacher: torch.Tensor,
    *,
    alpha: float,
    kind: str = "mse",
    temperature: float = 1.0,
    label_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of each row's loss.

    `target` holds the hard label or -1 (none); `teacher` the teacher's logits or NaN (none).
    A row with both: (1 - alpha) * cross-entropy + alpha * distillation; with one of them: that one.
    Distillation is Tang et al.'s MSE between logit vectors, or KL(teacher || student) at
    `temperature`, scaled by T^2 so its gradients keep their size (Hinton et al. 2015).
    `label_weight` (one per label) scales each row's cross-entropy by its label's weight.
    """
    has_hard = target >= 0
    has_soft = ~torch.isnan(teacher).any(-1)
    ce = torch.nn.functional.cross_entropy(student, target.clamp(min=0), weight=label_weight, reduction="none")
    safe_teacher = torch.nan_to_num(teacher)
    if kind == "mse":
        soft = ((student - safe_teacher) ** 2).mean(-1)
    elif kind == "kl":
        t = temperature
        soft = (
            torch.nn.functional.kl_div(
                torch.log_softmax(student / t, -1),
                torch.log_softmax(safe_teacher / t, -1),
                log_target=True,
                reduction="none",
            ).sum(-1)
            * t
            * t
        )
    else:
        raise ValueError(f"unknown distillation loss {kind!r} (mse or kl)")
    both = has_hard & has_soft
    weight_ce = torch.where(both, 1 - alpha, has_hard.float())
    weight_soft = torch.where(both, torch.full_like(ce, alpha), has_soft.float())
    return (weight_ce * ce + weight_soft * soft).mean()


def build_transfer_set(
    examples: Sequence[Any],
    out: str | Path,
    *,
    vectors: str | Path,
    settings: Any,
    val_fraction: float,
    seed: int,
    unlabelled: str | Path | None = None,
    unlabelled_sentences: int = 0,
    unlabelled_reviews: int = 0,
    labelled_max_words: int = 64,
    augment_max_words: int = 64,
) -> dict[str, Any]:
    """Write the transfer set for `examples`' training split (never a validation text or its variants).

    Rows: the labelled training texts of at most `labelled_max_words` words (so the teacher's soft
    labels can join their hard ones), variants of the training *sentences* (roots of phrase
    sources; texts of at most `augment_max_words` words elsewhere), and sentences and whole reviews
    sampled (seeded) from the unlabelled reviews of `unlabelled` (an aclImdb folder or tarball).
    """
    from tqdm import tqdm

    from training.augment import Neighbours, augment, review_sentences
    from training.data import iter_imdb
    from training.splits import split_examples, split_fingerprint

    started = time.monotonic()
    train_set, val_set, split = split_examples(examples, val_fraction, seed)
    rows = [
        TransferRow(e.text, "labelled", e.source, e.label)
        for e in train_set
        if len(e.text.split()) <= labelled_max_words
    ]
    # Augment whole sentences: a phrase source's roots, any other short text.
    train_texts = {" ".join(e.text.lower().split()) for e in train_set}
    to_augment: list[tuple[str, str, str]] = []
    for e in train_set:
        words = e.text.split()
        if len(words) > augment_max_words:
            continue
        norm = " ".join(w.lower() for w in words)
        to_augment.append((norm, e.source, e.label))
    roots = _roots(to_augment)
    near = Neighbours.load(vectors, settings.neighbours)
    near.prepare(w for text, _, _ in roots for w in text.split())
    seen = set(train_texts)
    for text, source, label in tqdm(roots, desc="augment", mininterval=10.0):
        for variant in augment(text, settings, near):
            if variant not in seen:
                seen.add(variant)
                # The parent's label is kept for analysis; the student never trains on it as a hard
                # label (a masked or cut variant may not carry it): the teacher labels the variant.
                rows.append(TransferRow(variant, "augmented", source, label))
    if unlabelled and (unlabelled_sentences or unlabelled_reviews):
        reviews = [t for _, t in iter_imdb(Path(unlabelled), split="train", kinds=("unsup",))]
        import random

        order = list(range(len(reviews)))
        random.Random(seed).shuffle(order)
        for i in order[:unlabelled_reviews]:
            rows.append(TransferRow(" ".join(reviews[i].split()), "unlabelled_review", "imdb_unsup"))
        picked = 0
        bar = tqdm(total=unlabelled_sentences, desc="unlabelled sentences", mininterval=10.0)
        for i in order:
            if picked >= unlabelled_sentences:
                break
            for sentence in review_sentences(reviews[i]):
                if picked >= unlabelled_sentences:
                    break
                if sentence not in seen:
                    seen.add(sentence)
                    rows.append(TransferRow(sentence, "unlabelled_sentence", "imdb_unsup"))
                    picked += 1
                    bar.update(1)
        bar.close()
    manifest = {
        "split_sha256": split_fingerprint(val_set),
        "split": split.as_dict(),
        "augment": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "unlabelled_sentences": unlabelled_sentences,
        "unlabelled_reviews": unlabelled_reviews,
        "labelled_max_words": labelled_max_words,
        "sentences_augmented": len(roots),
        "seconds": round(time.monotonic() - started, 1),
    }
    return write_transfer(out, rows, manifest)


def _roots(texts: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The texts that are not a contiguous run of words inside another one (whole sentences)."""
    from training.splits import MAX_PHRASE_WORDS, _spans

    present = {t for t, _, _ in texts}
    inner: set[str] = set()
    for text in present:
        words = tuple(text.split())
        if len(words) <= MAX_PHRASE_WORDS:
            inner |= {" ".join(s) for s in _spans(words) if " ".join(s) in present}
    return sorted({(t, s, label) for t, s, label in texts if t not in inner})
