"""Validation splits that do not leak: per source, and by whole sentence for phrase data.

SST-2's training file holds ~67k phrases cut from ~6.9k sentences. A random split of the
phrases puts sub-phrases of a validation sentence into training, which overstates accuracy on
sentences the model has never seen. Here a short-text source is split by *root*: a text that is
not a sub-phrase (a contiguous run of words) of any other text of the source. Validation holds
whole root sentences only; training drops every text that is a sub-phrase of a validation root.
A source without sub-phrases has every text as its own root, so this is a plain random split.
Long texts (reviews) are independent documents and are split at random.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from training.data import DataError, Example, file_source

PHRASE_SOURCE_MAX_MEAN_WORDS = 64  # sources whose texts average more words are split at random
MAX_PHRASE_WORDS = 120  # a text longer than this is never searched for sub-phrases (cost is quadratic)


@dataclass
class SplitReport:
    """What a split did, per source (recorded in metrics.json)."""

    sources: dict[str, dict[str, object]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"method": "per source; short-text sources by whole sentence", "sources": self.sources}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


def _seed_for(seed: int, source: str) -> int:
    """One source's split depends on its own data and the seed, not on which other files were given."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{source}".encode()).digest()[:8], "big")


def _random_split(indices: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    order = list(indices)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * fraction)) if len(order) > 1 else 0
    return order[n_val:], order[:n_val]


def _spans(words: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Every contiguous run of words shorter than the whole text."""
    n = len(words)
    return {words[i:j] for i in range(n) for j in range(i + 1, n + 1) if j - i < n}


def phrase_split(
    examples: Sequence[Example], indices: list[int], fraction: float, seed: int
) -> tuple[list[int], list[int], dict[str, object]]:
    """Split `indices` of a phrase source by root sentence; returns (train, val, report)."""
    by_text: dict[tuple[str, ...], list[int]] = {}
    for i in indices:
        by_text.setdefault(_words(examples[i].text), []).append(i)
    contained: set[tuple[str, ...]] = set()
    spans_of: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for words in by_text:
        if len(words) > MAX_PHRASE_WORDS:
            continue
        inner = {s for s in _spans(words) if s in by_text}
        spans_of[words] = inner
        contained |= inner
    roots = sorted(w for w in by_text if w not in contained)
    random.Random(seed).shuffle(roots)
    n_val = max(1, round(len(roots) * fraction)) if len(roots) > 1 else 0
    val_roots = roots[:n_val]
    held = set(val_roots)
    for root in val_roots:
        held |= spans_of.get(root, set())
    val = [i for root in val_roots for i in by_text[root]]
    train = [i for words, rows in by_text.items() if words not in held for i in rows]
    dropped = sum(len(by_text[w]) for w in held if w in by_text) - len(val)
    report = {
        "split": "by sentence",
        "texts": len(indices),
        "roots": len(roots),
        "val_sentences": len(val),
        "train_texts": len(train),
        "dropped_sub_phrases_of_val": dropped,
    }
    return sorted(train), sorted(val), report


def split_examples(
    examples: Sequence[Example], fraction: float, seed: int, *, by_sentence: bool = True
) -> tuple[list[Example], list[Example], SplitReport]:
    """Split deterministically per source: the same data and seed always give the same validation set."""
    report = SplitReport()
    by_source: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_source.setdefault(example.source, []).append(i)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for source, indices in sorted(by_source.items()):
        source_seed = _seed_for(seed, source)
        mean_words = sum(len(examples[i].text.split()) for i in indices) / len(indices)
        if by_sentence and mean_words <= PHRASE_SOURCE_MAX_MEAN_WORDS and len(indices) > 1:
            train, val, info = phrase_split(examples, indices, fraction, source_seed)
        else:
            train, val = _random_split(indices, fraction, source_seed)
            info = {"split": "random", "texts": len(indices), "val_texts": len(val), "train_texts": len(train)}
        report.sources[source] = info
        train_idx.extend(train)
        val_idx.extend(val)
    return [examples[i] for i in train_idx], [examples[i] for i in val_idx], report


def split_fingerprint(val: Sequence[Example]) -> str:
    """SHA-256 over the sorted validation texts: files built from one split can check they match it."""
    digest = hashlib.sha256()
    for text in sorted(e.text for e in val):
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


# --- an artifact's own split, reproduced ----------------------------------------------------------


def artifact_source(entry: Mapping[str, Any]) -> str:
    """The source name that the rows of one of an artifact's training files (a metrics.json "data" entry) carried.

    It seeds that source's split, so a renamed copy of the file must split under this name.
    """
    name = str(entry.get("file") or "")
    return "imdb" if name.endswith((".tar.gz", ".tgz", ".tar", "/")) else name.split(".")[0]


def artifact_split(
    examples: Sequence[Example], metrics: Mapping[str, Any]
) -> tuple[list[Example], list[Example], SplitReport]:
    """Split `examples` as the artifact whose metrics.json is `metrics` split its training data.

    `examples` are rows of the artifact's training sources, under its source names. The split is
    per source and seeded, so any subset of those sources splits as it did in training. Checked
    against the split metrics.json records (per source: rows, sentences, validation rows): other
    data under one of its source names raises DataError instead of giving another validation set.
    """
    settings = metrics.get("settings") or {}
    if "val_fraction" not in settings or "seed" not in settings:
        raise DataError("the artifact's metrics.json lacks its split settings (val_fraction, seed)")
    default = (float(settings["val_fraction"]), int(settings["seed"]))
    # A source the artifact learnt through replay was split by the artifact it was replayed from.
    inherited = {
        artifact_source(d): (float(d["split_settings"]["val_fraction"]), int(d["split_settings"]["seed"]))
        for d in metrics.get("data") or []
        if isinstance(d, dict) and isinstance(d.get("split_settings"), dict)
    }
    groups: dict[tuple[float, int], list[Example]] = {}
    for example in examples:
        groups.setdefault(inherited.get(file_source(example.source), default), []).append(example)
    train: list[Example] = []
    val: list[Example] = []
    split = SplitReport()
    for (fraction, seed), group in sorted(groups.items()):
        part_train, part_val, part = split_examples(group, fraction, seed)
        train += part_train
        val += part_val
        split.sources.update(part.sources)
    expected = (metrics.get("split") or {}).get("sources") or {}
    for source, info in split.sources.items():
        want = expected.get(source)
        if want is not None and want != info:
            raise DataError(
                f"could not reproduce the artifact's split of {source}: {info} here, {want} in its metrics.json"
            )
    return train, val, split
