"""The supervised training loop: split, vocabulary, batches, AdamW, early stopping, export."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from model import BiLSTMClassifier, ModelConfig, Vocab, load_artifact, save_artifact
from model.precision import fast_on_this_cpu
from model.predictor import derived_polarity
from model.tokenizer import PAD_ID, UNK_ID
from model.tokenizers import DEFAULT_TOKENIZER, get_tokenizer
from training import distributed
from training.data import Example, describe_source, file_source, fingerprint, rows_sha256
from training.distill import CacheError, distill_loss, load_logits, read_transfer, student_text
from training.finetune import Replay, Start, read_replay, start_from
from training.graded import binary_pair, macro_f1, pearson
from training.splits import artifact_source, split_examples, split_fingerprint
from training.vectors import load_lstms, load_vectors


@dataclass
class TrainSettings:
    epochs: int = 4  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    lr: float = 2e-3  # peak learning rate (linear warm-up, then cosine decay)
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient norm clip
    warmup: float = 0.05  # fraction of steps spent warming up
    patience: int = 2  # epochs without validation improvement before stopping
    val_fraction: float = 0.1
    seed: int = 13
    init_seed: int | None = None  # seed of the initial weights, dropout and batch order when not `seed`'s
    vocab_size: int = 40_000
    min_freq: int = 2
    average_last: int = 1  # average the weights of the best and the N-1 epochs before it
    threads: int = 0  # torch intra-op threads; 0 = all cores
    dry_run: bool = False  # one training batch and one validation batch, then export
    init_vectors: str | None = None  # pre-trained directory (`pretrain` word2vec or `pretrain-lm`)
    device: str = "cpu"  # "auto": cuda when there is one
    # "bf16": forward passes under autocast, weights fp32; "auto": bf16 where the device has bf16 instructions
    # (CPU: AVX-512 bf16 or AMX; CUDA: bf16 support), else fp32 (`train_precision`)
    precision: str = "fp32"
    freeze_epochs: int = 0  # train only the output layer for this many epochs first (ULMFiT's gradual unfreezing)
    encoder_lr_scale: float = 1.0  # embedding and LSTMs learn at lr * this (discriminative fine-tuning)
    calibrate: bool = True  # fit per-label logit offsets on validation (folded into the output bias)
    transfer: str | None = None  # transfer set (training/distill.py) whose rows the teacher labelled
    teacher_logits: str | None = None  # the teacher's cached logits on `transfer`
    transfer_kinds: tuple[str, ...] = ("labelled", "augmented", "unlabelled_sentence", "unlabelled_review")
    distill_loss: str = "mse"  # "mse" on logits (Tang et al. 2019) or "kl" at `temperature`
    distill_alpha: float = 0.5  # weight of the teacher on rows that also have a hard label
    temperature: float = 2.0
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    tie_break: str = "loss"  # equal validation scores: "loss" keeps the lower validation loss, "later" the later epoch
    init_from: str | None = None  # artifact directory to fine-tune (training/finetune.py); its network settings win
    max_new_words: int = 10_000  # with init_from: new words of the data appended to its vocabulary
    new_word_init: str = "unk"  # with init_from: how new words' rows start ("unk", "random", "vectors")
    replay: int | None = None  # with init_from: mix in this many of its own training rows (0: only score them)
    replay_from: tuple[str, ...] = ()  # files and folders to find its training files in, by SHA-256
    replay_val_max: int = 0  # original validation rows scored per source (0: all)
    replay_distill: bool = True  # replayed rows also learn the artifact's own logits (KL at `temperature`)
    polarity_head: str = "auto"  # "auto": a polarity head when some rows are graded (a rating); "on", "off"
    polarity_weight: float = 1.0  # weight of the polarity head's squared error beside the cross-entropy
    label_weights: str = "none"  # "balanced": cross-entropy weighted by inverse label frequency (small neutral class)
    tokenizer: str | None = None  # model/tokenizers/ name; None: regex-word-v1, or with init_from the artifact's own
    language: str | None = None  # ISO 639-1 code the model reads, recorded in config.json; None: with init_from its own


@dataclass
class Encoded:
    ids: list[list[int]]
    labels: list[int]
    sources: list[str]
    targets: list[float] = field(default_factory=list)  # polarity target per row, NaN where ungraded


def encode(examples: Sequence[Example], tokens: Sequence[list[str]], vocab: Vocab, config: ModelConfig) -> Encoded:
    index = {label: i for i, label in enumerate(config.labels)}
    return Encoded(
        ids=[vocab.encode(config.read(t)) or [UNK_ID] for t in tokens],
        labels=[index[e.label] for e in examples],
        sources=[e.source for e in examples],
        targets=[math.nan if e.target is None else e.target for e in examples],
    )


TRAIN_PRECISIONS = ("fp32", "bf16")


def train_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> bf16 where `device` runs it natively (1.9x faster epochs here at the same accuracy,
    BENCHMARKS.md "Training in bf16"), else fp32; "fp32" / "bf16" as they are."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and fast_on_this_cpu("bf16") else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """The forward pass's arithmetic: bf16 under torch.autocast (no loss scaling needed: bf16 has fp32's range)."""
    if precision not in TRAIN_PRECISIONS:
        raise ValueError(f"precision must be one of {TRAIN_PRECISIONS}, not {precision!r}")
    if precision == "bf16":
        return torch.autocast(device.type, torch.bfloat16)
    return contextlib.nullcontext()


def pick_device(name: str) -> torch.device:
    """ "auto": cuda when there is one, else cpu; otherwise the device named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def batches(rows: Sequence[Sequence[int]], batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """Group the indices of id lists of similar length (little padding); shuffled when `rng` is given."""
    order = list(range(len(rows)))
    if rng is None:
        order.sort(key=lambda i: len(rows[i]))
    else:
        # Sort within random pools of 50 batches: similar lengths per batch, random batch order.
        rng.shuffle(order)
        pool = batch_size * 50
        order = [i for s in range(0, len(order), pool) for i in sorted(order[s : s + pool], key=lambda i: len(rows[i]))]
    groups = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    return groups


def pad(rows: Sequence[Sequence[int]], group: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and lengths (B,) of the rows in `group`."""
    picked = [rows[i] for i in group]
    lengths = torch.tensor([len(r) for r in picked])
    ids = torch.full((len(picked), int(lengths.max())), PAD_ID, dtype=torch.long)
    for r, row in enumerate(picked):
        ids[r, : len(row)] = torch.tensor(row)
    return ids, lengths


def collate(data: Encoded, group: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return *pad(data.ids, group), torch.tensor([data.labels[i] for i in group])


def joined(first: Encoded, second: Encoded) -> Encoded:
    """The rows of both, `second`'s after `first`'s."""

    def targets(data: Encoded) -> list[float]:
        return data.targets or [math.nan] * len(data.ids)

    return Encoded(
        first.ids + second.ids,
        first.labels + second.labels,
        first.sources + second.sources,
        targets(first) + targets(second),
    )


def group_targets(data: Encoded, group: list[int]) -> torch.Tensor:
    """The rows' polarity targets (NaN where a row has none)."""
    if not data.targets:
        return torch.full((len(group),), math.nan)
    return torch.tensor([data.targets[i] for i in group], dtype=torch.float32)


def polarity_loss(polarity: torch.Tensor | None, targets: torch.Tensor) -> torch.Tensor | None:
    """Mean squared error of the polarity head over the graded rows of a batch (None: nothing to learn)."""
    graded = ~torch.isnan(targets)
    if polarity is None or not bool(graded.any()):
        return None
    return nn.functional.mse_loss(polarity[graded], targets[graded])


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to zero."""
    warmup = max(1, int(total_steps * warmup_fraction))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total_steps - warmup)))
        ),
    )


def evaluate_encoded(
    network: BiLSTMClassifier,
    data: Encoded,
    batch_size: int,
    limit: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Return loss, accuracy and per-source accuracy on `data`."""
    network.eval()
    loss_sum, correct, count = 0.0, 0, 0
    per_source: dict[str, list[int]] = {}
    graded: dict[str, tuple[list[float], list[float], list[int], list[int]]] = {}  # polarity, target, predicted, label
    labels_of = list(network.config.labels)
    polar = list(binary_pair(labels_of) or ())  # also the binary accuracy, for a model with neutral
    binary: dict[str, list[int]] = {}
    with torch.inference_mode():
        for n, group in enumerate(batches(data.ids, batch_size * 2, None)):
            if limit is not None and n >= limit:
                break
            ids, lengths, labels = (t.to(device) for t in collate(data, group))
            logits, polarity = network.outputs(ids, lengths)
            loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            predicted = logits.argmax(-1)
            hits = (predicted == labels).tolist()
            correct += sum(hits)
            count += len(group)
            if polarity is None:
                polarity = torch.from_numpy(derived_polarity(logits.double().softmax(-1).cpu().numpy(), labels_of))
            targets = group_targets(data, group).tolist()
            binary_hits = (logits[:, polar].argmax(-1) == (labels == polar[1]).long()).tolist() if polar else []
            for k, (i, hit) in enumerate(zip(group, hits, strict=True)):
                per_source.setdefault(data.sources[i], [0, 0])
                per_source[data.sources[i]][0] += hit
                per_source[data.sources[i]][1] += 1
                if polar and data.labels[i] in polar:
                    per_binary = binary.setdefault(data.sources[i], [0, 0])
                    per_binary[0] += binary_hits[k]
                    per_binary[1] += 1
                if not math.isnan(targets[k]):
                    row = graded.setdefault(data.sources[i], ([], [], [], []))
                    row[0].append(float(polarity[k]))
                    row[1].append(targets[k])
                    row[2].append(int(predicted[k]))
                    row[3].append(data.labels[i])
    result: dict[str, Any] = {
        "loss": loss_sum / max(count, 1),
        "accuracy": correct / max(count, 1),
        "examples": count,
        "accuracy_by_source": {s: c / n for s, (c, n) in sorted(per_source.items())},
    }
    if binary:
        result["binary_accuracy_by_source"] = {s: c / n for s, (c, n) in sorted(binary.items())}
    if graded:
        result["graded_by_source"] = {
            s: {
                "pearson_r": pearson(p, t),
                "macro_f1": macro_f1([labels_of[i] for i in pr], [labels_of[i] for i in a], labels_of),
                "examples": len(t),
            }
            for s, (p, t, pr, a) in sorted(graded.items())
        }
    return result


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def train(
    examples: Sequence[Example],
    out_dir: str | Path,
    settings: TrainSettings,
    *,
    data_names: Sequence[str | Path] = (),
    data_read: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on `examples`, export the best model to `out_dir`, return its metrics.

    Under torchrun (WORLD_SIZE > 1) every process calls this; they train one model together
    (training/distributed.py) and rank 0 alone writes it and returns its metrics; the others
    return {"rank": r}.
    """
    started = time.monotonic()
    ranks = distributed.from_env()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    init_seed = settings.seed if settings.init_seed is None else settings.init_seed
    random.seed(init_seed)
    torch.manual_seed(init_seed)
    labels = sorted({e.label for e in examples})
    if len(labels) < (1 if settings.init_from else 2):
        raise ValueError(f"training needs at least two labels, found {labels}")
    if settings.replay is not None and not settings.init_from:
        raise ValueError("--replay mixes in an artifact's own training rows: it needs --init-from")
    if settings.init_from and settings.transfer:
        raise ValueError("--init-from and --transfer cannot be combined (fine-tune first, or distil from scratch)")
    if settings.tie_break not in ("loss", "later"):
        raise ValueError(f"tie break must be 'loss' or 'later', not {settings.tie_break!r}")
    if settings.polarity_head not in ("auto", "on", "off"):
        raise ValueError(f"polarity head must be auto, on or off, not {settings.polarity_head!r}")
    if settings.label_weights not in ("none", "balanced"):
        raise ValueError(f"label weights must be none or balanced, not {settings.label_weights!r}")
    graded_rows = sum(1 for e in examples if e.target is not None)
    with_polarity = settings.polarity_head == "on" or (settings.polarity_head == "auto" and graded_rows > 0)
    if with_polarity and not graded_rows:
        raise ValueError("--polarity-head on needs graded rows (a rating column) to learn from")
    if with_polarity and ranks.enabled:
        raise ValueError(
            "a polarity head is not trained under torchrun yet: train it in one process, or --polarity-head off"
        )
    train_set, val_set, split = split_examples(examples, settings.val_fraction, settings.seed)
    if not val_set:
        raise ValueError("too few examples to carve out a validation split")
    # Always show progress (also into a log file), but redraw rarely when nobody watches a terminal.
    progress = {
        "dynamic_ncols": True,
        "mininterval": 0.1 if sys.stderr.isatty() else 10.0,
        "disable": not ranks.main,  # one bar, not one per process
    }
    # The artifact records the tokenizer (config.json), so serving reads text as training did.
    tokenizer = settings.tokenizer or (
        load_artifact(settings.init_from).config.tokenizer if settings.init_from else DEFAULT_TOKENIZER
    )
    tokenize = get_tokenizer(tokenizer).tokenize
    train_tokens = [tokenize(e.text) for e in tqdm(train_set, desc="tokenise train", **progress)]
    val_tokens = [tokenize(e.text) for e in tqdm(val_set, desc="tokenise val", **progress)]
    say = tqdm.write if ranks.main else lambda *_, **__: None
    start: Start | None = None
    replay: Replay | None = None
    original_val: Encoded | None = None
    if settings.init_from:
        start = start_from(
            settings.init_from,
            train_tokens,
            labels,
            min_freq=settings.min_freq,
            max_new_words=settings.max_new_words,
            new_word_init=settings.new_word_init,
            vectors=settings.init_vectors,
            seed=init_seed,
            polarity_head=with_polarity,
        )
        network, vocab = start.network, start.vocab
        network.config.tokenizer = tokenizer  # another one than the artifact's: its new tokens grew the vocabulary
        if settings.language is not None:
            network.config.language = settings.language
        config = network.config
        if config.polarity_head and ranks.enabled:
            raise ValueError(
                f"{settings.init_from} has a polarity head, which is not trained under torchrun yet: "
                "fine-tune it in one process"
            )
        if config.polarity_head and not graded_rows and settings.replay is None:
            say(
                "warning: the artifact's polarity head learns only from graded rows and there are none (no "
                "rating column, no --replay of its graded data): its polarity will drift from its labels",
                file=sys.stderr,
            )
        report = start.report
        say(
            f"fine-tuning {report['artifact']} ({report['version']}): {report['new_words']} new words "
            f"({report['new_word_init']}), labels {config.labels}",
            file=sys.stderr,
        )
        if settings.replay is not None:
            replay = read_replay(
                start.metrics,
                settings.replay_from,
                settings.replay,
                labels=start.base_labels,
                seed=init_seed,
                val_max=settings.replay_val_max,
            )
            train_set = [*train_set, *replay.train]
            train_tokens += [tokenize(e.text) for e in tqdm(replay.train, desc="tokenise replay", **progress)]
            original = [tokenize(e.text) for e in tqdm(replay.val, desc="tokenise original val", **progress)]
            original_val = encode(replay.val, original, vocab, config)
            say(f"replay: {replay.report['rows_by_source']} mixed in", file=sys.stderr)
    else:
        vocab = Vocab.build(train_tokens, max_size=settings.vocab_size, min_freq=settings.min_freq)
        config = ModelConfig(
            vocab_size=len(vocab),
            labels=labels,
            **{"polarity_head": with_polarity, "tokenizer": tokenizer, "language": settings.language, **settings.model},
        )
        network = BiLSTMClassifier(config)
    if settings.init_vectors and start is None:
        found = load_vectors(settings.init_vectors, vocab, network.embedding.weight.data)
        say(f"initialised {found}/{len(vocab)} embeddings from {settings.init_vectors}", file=sys.stderr)
        if tensors := load_lstms(settings.init_vectors, network):
            say(f"initialised {tensors} LSTM tensors from {settings.init_vectors}", file=sys.stderr)
    device = pick_device(settings.device)
    if ranks.enabled:
        device = distributed.start(ranks, device)
    network.to(device)
    precision = train_precision(settings.precision, device)
    # Under torchrun the steps go through DDP (gradients averaged over the processes); validation,
    # calibration and export use the plain network on rank 0.
    stepper: nn.Module = network
    if ranks.enabled:
        stepper = nn.parallel.DistributedDataParallel(network, find_unused_parameters=settings.freeze_epochs > 0)
    train_data = encode(train_set, train_tokens, vocab, config)
    val_data = encode(val_set, val_tokens, vocab, config)
    original_before = None
    if original_val is not None:
        original_before = evaluate_encoded(network, original_val, settings.batch_size, device=device)
        say(f"original validation before: {original_before['accuracy_by_source']}", file=sys.stderr)
    soft, distillation = None, None
    loss_kind = settings.distill_loss
    if settings.transfer:
        soft, distillation = _add_transfer(train_data, train_set, val_set, vocab, config, settings, progress)
    elif replay is not None and replay.train and settings.replay_distill:
        # Learning without forgetting (Li & Hoiem 2016): the replayed rows keep the artifact's own
        # answers as soft targets beside their labels, so they hold what it knew, not only the labels.
        soft = _own_logits(network, train_data, len(train_data.ids) - len(replay.train), settings.batch_size, device)
        loss_kind = "kl"

    label_weight = (
        _label_weights(train_data, len(config.labels)).to(device) if settings.label_weights == "balanced" else None
    )
    rng = random.Random(init_seed)
    steps_per_epoch = math.ceil(len(train_data.ids) / settings.batch_size)
    total_steps = 1 if settings.dry_run else steps_per_epoch * settings.epochs
    # fused: one kernel for all parameters, 5x faster than the loop over tensors here (dense 40k-row embedding)
    head = [p for n, p in network.named_parameters() if n.startswith(("output.", "polarity."))]
    encoder = [p for n, p in network.named_parameters() if not n.startswith(("output.", "polarity."))]
    optimizer = torch.optim.AdamW(
        [{"params": encoder, "lr": settings.lr * settings.encoder_lr_scale}, {"params": head, "lr": settings.lr}],
        weight_decay=settings.weight_decay,
        fused=True,
    )
    schedule = warmup_cosine(optimizer, total_steps, settings.warmup)
    history: list[dict[str, Any]] = []
    snapshots: list[dict[str, torch.Tensor]] = []
    best_state, best_acc, best_loss, best_epoch, stale = copy.deepcopy(network.state_dict()), -1.0, math.inf, 0, 0
    for epoch in range(1, (1 if settings.dry_run else settings.epochs) + 1):
        network.train()
        for p in encoder:
            p.requires_grad_(epoch > settings.freeze_epochs)
        groups = batches(train_data.ids, settings.batch_size, rng)[: 1 if settings.dry_run else None]
        if ranks.enabled:  # every process needs a share of every step's batch
            groups = [g for g in groups if len(g) >= ranks.world]
        epoch_started = time.monotonic()
        bar = tqdm(groups, desc=f"epoch {epoch}/{settings.epochs}", **progress)
        loss_sum, correct, seen, seen_labelled = 0.0, 0, 0, 0
        for whole in bar:
            group = distributed.my_slice(whole, ranks) if ranks.enabled else whole
            ids, lengths, target = (t.to(device) for t in collate(train_data, group))
            polarity = None
            with autocast(device, precision):
                if network.polarity is not None:  # one process (checked above): the network itself
                    logits, polarity = network.outputs(ids, lengths)
                else:
                    logits = stepper(ids, lengths)
            # the losses in fp32 (bf16: the matrix products ran in bf16, the weights and optimiser stay fp32)
            logits = logits.float()
            polarity = polarity.float() if polarity is not None else None
            if soft is not None:
                teacher = soft[group].to(device)
                mean = distill_loss(
                    logits,
                    target,
                    teacher,
                    alpha=settings.distill_alpha,
                    kind=loss_kind,
                    temperature=settings.temperature,
                    label_weight=label_weight,
                )
                share = mean * len(group)
                loss = share * ranks.world / len(whole) if ranks.enabled else mean
            elif ranks.enabled:
                # DDP averages gradients over the processes: scale so that the average is the
                # mean loss over the whole batch, whatever the sizes of the shares.
                share = nn.functional.cross_entropy(logits, target, weight=label_weight, reduction="sum")
                loss = share * ranks.world / len(whole)
            else:
                loss = nn.functional.cross_entropy(logits, target, weight=label_weight)
            if (extra := polarity_loss(polarity, group_targets(train_data, group).to(device))) is not None:
                loss = loss + settings.polarity_weight * extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), settings.clip)
            optimizer.step()
            schedule.step()
            loss_sum += share.item() if ranks.enabled or soft is not None else loss.item() * len(group)
            labelled = target >= 0
            correct += int((logits.argmax(-1) == target)[labelled].sum())
            seen += len(group)
            seen_labelled += int(labelled.sum())
            bar.set_postfix(
                loss=f"{loss_sum / seen:.4f}",
                acc=f"{correct / max(seen_labelled, 1):.4f}",
                lr=f"{schedule.get_last_lr()[0]:.1e}",
                refresh=False,
            )
        train_s = time.monotonic() - epoch_started
        if ranks.enabled:
            loss_sum, correct_all, seen_all, labelled_all = distributed.sum_all(
                [loss_sum, correct, seen, seen_labelled], device
            )
            correct, seen, seen_labelled = int(correct_all), int(seen_all), int(labelled_all)
        if not ranks.main:
            # rank 0 validates and decides; the others wait here for its word
            if distributed.from_main(None):
                break
            continue
        val = evaluate_encoded(network, val_data, settings.batch_size, 1 if settings.dry_run else None, device)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / max(seen_labelled, 1),
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_accuracy_by_source": val["accuracy_by_source"],
            "val_graded_by_source": val.get("graded_by_source"),
            "elapsed_s": round(time.monotonic() - started, 1),
            "train_s": round(train_s, 1),  # this epoch's training steps, without validation
        }
        history.append(record)
        tqdm.write(
            f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} | "
            f"val loss {val['loss']:.4f} acc {val['accuracy']:.4f} {val['accuracy_by_source']}"
            + (f" | graded {_graded_line(val['graded_by_source'])}" if val.get("graded_by_source") else ""),
            file=sys.stderr,
        )
        snapshots = (
            [*snapshots[-(settings.average_last - 1) :], copy.deepcopy(network.state_dict())]
            if settings.average_last > 1
            else []
        )
        # Select on the mean of per-source accuracies (macro-F1 for graded sources), so 67k short
        # phrases do not outvote 25k reviews.
        graded = val.get("graded_by_source") or {}
        per_source = {s: graded[s]["macro_f1"] if s in graded else a for s, a in val["accuracy_by_source"].items()}
        score = sum(per_source.values()) / len(per_source)
        record["val_selection_score"] = score
        if is_better(score, val["loss"], best_acc, best_loss, settings.tie_break):
            best_acc, best_loss, best_epoch, stale = score, val["loss"], epoch, 0
            best_state = _average(snapshots) if snapshots else copy.deepcopy(network.state_dict())
        else:
            stale += 1
        # A gain never stops the run, and the last epoch is no early stop.
        stop = stale > 0 and stale >= settings.patience and epoch < settings.epochs and not settings.dry_run
        if ranks.enabled:
            distributed.from_main(stop)
        if stop:
            tqdm.write(
                f"early stop after epoch {epoch}: no validation gain for {stale} epochs (best: epoch {best_epoch})",
                file=sys.stderr,
            )
            break
    if not ranks.main:
        distributed.stop()  # waits for rank 0's artifact
        return {"rank": ranks.rank}
    network.load_state_dict(best_state)
    calibration = None
    if settings.calibrate and not settings.dry_run:
        # With replay (the original domain matters too) and new labels, only the new labels move.
        added = [i for i, label in enumerate(config.labels) if start is not None and label not in start.base_labels]
        calibration = calibrate_bias(
            network,
            val_data if original_val is None else joined(val_data, original_val),
            settings.batch_size,
            device,
            only=added if original_val is not None and added else None,
        )
        tqdm.write(f"calibration on validation: {calibration}", file=sys.stderr)
    final_val = evaluate_encoded(network, val_data, settings.batch_size, 1 if settings.dry_run else None, device)
    replay_report = None
    if replay is not None and original_val is not None and original_before is not None:
        original_after = evaluate_encoded(network, original_val, settings.batch_size, device=device)
        say(f"original validation after: {original_after['accuracy_by_source']}", file=sys.stderr)
        replay_report = {**replay.report, "original_val_before": original_before, "original_val_after": original_after}
    network.cpu()
    elapsed = time.monotonic() - started
    metrics = {
        "validation": final_val,
        "calibration": calibration,
        "best_epoch": best_epoch,
        "history": history,
        "train_examples": len(train_set),
        "val_examples": len(val_set),
        "split": split.as_dict(),
        "distillation": distillation,
        "data": [describe_source(p, data_read) for p in data_names],  # names and hashes, never this machine's paths
        "data_rows": rows_sha256(examples),  # per source: the rows, wherever a later run finds them
        "init_from": start.report if start is not None else None,
        "replay": replay_report,
        "training_time_s": round(elapsed, 1),
        "threads": torch.get_num_threads(),  # per process
        "processes": ranks.world,
        "device": str(device),
        "precision": precision,  # the arithmetic of the forward passes (settings.precision "auto" resolved)
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "settings": {
            **asdict(settings),
            "init_vectors": fingerprint(settings.init_vectors) if settings.init_vectors else None,
            "init_from": start.report["artifact"] if start is not None else None,
            "replay_from": [Path(p).name for p in settings.replay_from],
            "transfer": fingerprint(settings.transfer) if settings.transfer else None,
            "teacher_logits": fingerprint(settings.teacher_logits) if settings.teacher_logits else None,
        },
        "code_revision": git_revision(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dry_run": settings.dry_run,
    }
    if replay is not None and start is not None:
        _inherit_replayed_sources(metrics, start.metrics, replay)
    version = save_artifact(out_dir, network=network, vocab=vocab, metrics=metrics)
    metrics["version"] = version
    if ranks.enabled:
        distributed.stop()
    return metrics


def _add_transfer(
    data: Encoded,
    train_set: Sequence[Example],
    val_set: Sequence[Example],
    vocab: Vocab,
    config: ModelConfig,
    settings: TrainSettings,
    progress: dict[str, Any],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Join the teacher's cached logits to the training rows and append the unlabelled transfer rows.

    Returns the soft targets, one row per training row (NaN where the teacher gave none), and what
    was used (recorded in metrics.json). Transfer rows get the label -1: no hard label.
    """
    if not settings.teacher_logits:
        raise CacheError("--transfer needs --teacher-logits (the teacher's logits on that transfer set)")
    rows, manifest = read_transfer(settings.transfer)  # type: ignore[arg-type]
    # The transfer set may come from some of the training files (the short texts): compare the
    # validation split of those sources only.
    sources = set(manifest.get("split", {}).get("sources", {}))
    if manifest.get("split_sha256") != split_fingerprint([e for e in val_set if e.source in sources]):
        raise CacheError(
            f"{settings.transfer}: built from another training/validation split than this run's "
            "(other data, --val-fraction or --seed); its rows could hold validation texts"
        )
    logits = load_logits(settings.teacher_logits, transfer=settings.transfer, labels=config.labels)  # type: ignore[arg-type]
    kinds = set(settings.transfer_kinds)
    soft_rows: list[torch.Tensor] = [torch.full((len(config.labels),), float("nan"))] * len(data.ids)
    if "labelled" in kinds:
        by_text = {r.text: i for i, r in enumerate(rows) if r.kind == "labelled"}
        for n, example in enumerate(train_set):
            if (i := by_text.get(example.text)) is not None:
                soft_rows[n] = logits[i]
    joined = sum(1 for r in soft_rows if not torch.isnan(r).any())
    extra = [i for i, r in enumerate(rows) if r.kind in kinds and r.kind != "labelled"]
    for i in tqdm(extra, desc="tokenise transfer", **progress):
        tokens = config.read(get_tokenizer(config.tokenizer).tokenize(student_text(rows[i].text)))
        data.ids.append(vocab.encode(tokens) or [UNK_ID])
        data.labels.append(-1)
        data.sources.append(f"transfer:{rows[i].kind}")
        data.targets.append(math.nan)
        soft_rows.append(logits[i])
    info = {
        "transfer": {"file": Path(settings.transfer).name, "sha256": manifest["sha256"], "rows": manifest["rows"]},  # type: ignore[arg-type]
        "teacher_logits": fingerprint(settings.teacher_logits),
        "kinds": sorted(kinds),
        "labelled_rows_with_teacher": joined,
        "transfer_rows_added": len(extra),
        "loss": settings.distill_loss,
        "alpha": settings.distill_alpha,
        "temperature": settings.temperature if settings.distill_loss == "kl" else None,
    }
    return torch.stack(soft_rows), info


def _own_logits(
    network: BiLSTMClassifier, data: Encoded, first: int, batch_size: int, device: torch.device
) -> torch.Tensor:
    """The network's logits on rows `first`.. of `data`, NaN on the rows before (no soft target)."""
    network.eval()
    soft = torch.full((len(data.ids), len(network.config.labels)), float("nan"))
    rows = list(range(first, len(data.ids)))
    with torch.inference_mode():
        for s in range(0, len(rows), batch_size * 2):
            group = rows[s : s + batch_size * 2]
            ids, lengths = pad(data.ids, group)
            soft[group] = network(ids.to(device), lengths.to(device)).float().cpu()
    return soft


def _inherit_replayed_sources(metrics: dict[str, Any], start: dict[str, Any], replay: Replay) -> None:
    """Record the start artifact's replayed training files as this model's too, with their split.

    A model fine-tuned with replay learnt from them as well: a later `--replay` from it then finds
    and replays them (by checksum, split as the start split them: its own val_fraction and seed,
    kept in each entry's "split_settings"), not only the fine-tuning data.
    """
    replayed = {f["sha256"] for f in replay.report.get("files", [])}
    settings = start.get("settings") or {}
    own = {"val_fraction": settings.get("val_fraction"), "seed": settings.get("seed")}
    start_sources = (start.get("split") or {}).get("sources") or {}
    for entry in start.get("data") or []:
        if not isinstance(entry, dict) or entry.get("sha256") not in replayed:
            continue
        source = artifact_source(entry)
        metrics["data"].append({**entry, "split_settings": entry.get("split_settings") or own, "via": "replay"})
        if source in (start.get("data_rows") or {}):
            metrics["data_rows"][source] = start["data_rows"][source]
        for name, info in start_sources.items():
            if file_source(name) == source:
                metrics["split"]["sources"][name] = info


def is_better(score: float, loss: float, best_score: float, best_loss: float, tie_break: str) -> bool:
    """Whether an epoch beats the best so far: a higher selection score, or an equal one and the tie rule.

    Small validation sets tie often (10 texts, all right for several epochs); keeping the first
    tied epoch would keep the least trained weights. "loss" breaks a tie on validation loss,
    "later" keeps the later epoch.
    """
    if score > best_score + 1e-12:
        return True
    if score < best_score - 1e-12:
        return False
    return tie_break == "later" or loss < best_loss


def selection_score(
    predicted: torch.Tensor,
    labels: torch.Tensor,
    sources: Sequence[str],
    graded: set[str] | None = None,
    n_labels: int | None = None,
) -> float:
    """Mean over sources (so 67k short phrases do not outvote 25k reviews) of each one's accuracy, or
    of its macro-F1 over the model's `n_labels` labels for graded sources (`graded`), where a small
    neutral class would vanish under accuracy; the same macro-F1 as training/graded.py's (a label
    neither predicted nor present scores 0), vectorised for the calibration's many trials."""
    names = sorted(set(sources))
    source_ids = torch.tensor([names.index(s) for s in sources]) if len(names) > 1 else torch.zeros(len(sources))
    if n_labels is None:
        n_labels = int(max(int(predicted.max()), int(labels.max()))) + 1 if len(labels) else 1
    scores = []
    for k, name in enumerate(names):
        rows = source_ids == k
        p, a = predicted[rows], labels[rows]
        if graded and name in graded:
            pairs = torch.bincount(a * n_labels + p, minlength=n_labels * n_labels).view(n_labels, n_labels)
            tp = pairs.diag().double()
            f1 = 2 * tp / (pairs.sum(0) + pairs.sum(1)).double().clamp(min=1)
            scores.append(float(f1.mean()))
        else:
            scores.append(float((p == a).double().mean()))
    return sum(scores) / len(scores)


def graded_sources(data: Encoded) -> set[str]:
    """Sources with graded rows (a polarity target)."""
    return {s for s, t in zip(data.sources, data.targets, strict=True) if not math.isnan(t)} if data.targets else set()


def calibrate_bias(
    network: nn.Module, data: Encoded, batch_size: int, device: torch.device, *, only: Sequence[int] | None = None
) -> dict[str, Any]:
    """Fit one logit offset per label on validation and fold it into the output layer's bias.

    A classifier can end training leaning towards one label (here: reviews that mix praise and
    complaint came out negative more often than the reverse). Coordinate ascent over a grid of
    offsets, keeping a move only when it raises the selection score; ties keep the smaller offset.
    Fine-tuning with replay passes the original validation rows too, so an offset that helps the
    new data (a neutral label, say) cannot quietly cost the original domain, and then moves only the
    labels it added (`only`): the artifact's own labels keep the balance it was calibrated to.
    """
    network.eval()
    logits, order = [], []
    with torch.inference_mode():
        for group in batches(data.ids, batch_size * 2, None):
            ids, lengths, _ = collate(data, group)
            logits.append(network(ids.to(device), lengths.to(device)).float().cpu())
            order.extend(group)
    scores = torch.cat(logits)
    labels = torch.tensor([data.labels[i] for i in order])
    sources = [data.sources[i] for i in order]
    offsets = torch.zeros(scores.size(1))
    grid = [x / 20 for x in range(-40, 41)]  # -2 .. 2 in steps of 0.05
    graded = graded_sources(data)
    before = best = selection_score(scores.argmax(1), labels, sources, graded, scores.size(1))
    for _ in range(2):
        for label in range(scores.size(1)) if only is None else only:
            for value in sorted(grid, key=abs):
                trial = offsets.clone()
                trial[label] = value
                score = selection_score((scores + trial).argmax(1), labels, sources, graded, scores.size(1))
                if score > best + 1e-9:
                    best, offsets = score, trial
    bias = network.get_parameter("output.bias")
    with torch.no_grad():
        bias.add_(offsets.to(bias.device))
    result: dict[str, Any] = {
        "offsets": [round(float(o), 2) for o in offsets],
        "score_before": before,
        "score_after": best,
    }
    if graded:
        # Graded sources make the probabilities themselves an answer (three classes, some of them
        # close calls): one temperature, fitted by NLL on the same rows and folded into the output
        # layer, leaves every label as it is and makes the probabilities honest (ECE, BENCHMARKS.md).
        shifted = scores + offsets
        nll = {t: float(nn.functional.cross_entropy(shifted / t, labels)) for t in [x / 20 for x in range(10, 61)]}
        temperature = min(nll, key=lambda t: (nll[t], abs(t - 1.0)))
        weight = network.get_parameter("output.weight")
        with torch.no_grad():
            weight.div_(temperature)
            bias.div_(temperature)
        result["temperature"] = temperature
        result["nll_before"], result["nll_after"] = nll[1.0], nll[temperature]
    return result


def _graded_line(graded: dict[str, dict[str, Any]]) -> str:
    """One line per epoch: Pearson r and macro-F1 per graded source."""
    return ", ".join(
        f"{source.split(':')[-1]} r {m['pearson_r'] if m['pearson_r'] is None else round(m['pearson_r'], 3)} "
        f"F1 {m['macro_f1']:.3f}"
        for source, m in graded.items()
    )


def _label_weights(data: Encoded, n_labels: int) -> torch.Tensor:
    """Inverse label frequency over the labelled training rows, scaled so the rows' mean weight is 1."""
    counts = torch.zeros(n_labels)
    for label in data.labels:
        if label >= 0:
            counts[label] += 1
    weights = torch.where(counts > 0, counts.sum() / (n_labels * counts.clamp(min=1)), torch.zeros(n_labels))
    return weights


def _average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Average several checkpoints' weights (a cheap ensemble in one model)."""
    return {k: torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype) for k in states[0]}
