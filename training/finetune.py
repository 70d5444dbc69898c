"""Fine-tuning from an artifact: its weights as the start, its vocabulary grown, its labels extended.

A user's data is small (a few hundred support tickets, product reviews). Starting from the shipped
model keeps what it learnt from ~80k texts; the new data only moves it towards the new domain.

- Vocabulary: the artifact's tokens keep their ids (so their embedding rows carry over); words of
  the new training texts seen at least `min_freq` times are appended, at most `max_new_words`.
- New rows start as the artifact read those words before (the unknown word's vector: "unk"), as
  random vectors of the embedding's scale ("random"), or from pre-trained word vectors mapped into
  the artifact's embedding space by least squares over the words both know ("vectors").
- Labels: the artifact's, in its order, then any new ones (new output rows); data with only some of
  the artifact's labels keeps them all, so the model still answers every label it knew.
- Replay (forgetting): the artifact's metrics.json names its training files by name and SHA-256;
  the same files found in the paths given are read with the options recorded beside them, the
  artifact's split is reproduced (per source, seeded), a sample of its training rows is mixed in,
  and its validation rows are scored before and after.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model import BiLSTMClassifier, Vocab
from model.artifact import load_artifact
from model.tokenizer import PAD, UNK, UNK_ID
from training.data import (
    DataError,
    Example,
    detect_format,
    file_sha256,
    fingerprint,
    read_dataset,
    recorded_options,
    renamed,
    rows_sha256,
    source_of,
)
from training.splits import artifact_source, artifact_split

NEW_WORD_INITS = ("unk", "random", "vectors")


@dataclass
class Start:
    """What a fine-tuning run starts from."""

    network: BiLSTMClassifier
    vocab: Vocab
    report: dict[str, Any]  # recorded in metrics.json under "init_from"
    base_labels: list[str] = field(default_factory=list)  # the artifact's labels, in its order
    metrics: dict[str, Any] = field(default_factory=dict)  # the artifact's metrics.json (names its data)


def grow_vocab(base: Vocab, tokenized: Sequence[Sequence[str]], *, min_freq: int, max_new: int) -> Vocab:
    """The artifact's tokens (ids unchanged) and then the most frequent new ones, ties by token."""
    counts: Counter[str] = Counter()
    for tokens in tokenized:
        counts.update(tokens)
    known = set(base.tokens)
    ranked = sorted(
        (t for t, c in counts.items() if c >= min_freq and t not in known and t not in (PAD, UNK)),
        key=lambda t: (-counts[t], t),
    )
    return Vocab((*base.tokens, *ranked[: max(0, max_new)]))


def label_order(base: Sequence[str], data: Sequence[str]) -> list[str]:
    """The artifact's labels in its order, then the data's new ones sorted; a new "neutral" goes
    between "negative" and "positive" (answers list negative / neutral / positive)."""
    labels = list(base) + sorted(set(data) - set(base))
    if "neutral" in labels and "neutral" not in base and {"negative", "positive"} <= set(base):
        labels.remove("neutral")
        labels.insert(max(labels.index("negative"), labels.index("positive")), "neutral")
    return labels


def start_from(
    directory: str | Path,
    tokenized: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    min_freq: int,
    max_new_words: int,
    new_word_init: str,
    vectors: str | Path | None,
    seed: int,
    polarity_head: bool = False,
) -> Start:
    """Load the artifact at `directory` and build the network a fine-tuning run starts from.

    `polarity_head` adds one when the artifact has none (it starts at random, like a new label's row).
    """
    if new_word_init not in NEW_WORD_INITS:
        raise ValueError(f"new word init must be one of {', '.join(NEW_WORD_INITS)}, not {new_word_init!r}")
    artifact = load_artifact(directory)
    base = artifact.config
    vocab = grow_vocab(artifact.vocab, tokenized, min_freq=min_freq, max_new=max_new_words)
    all_labels = label_order(base.labels, labels)
    config = dataclasses.replace(
        base, vocab_size=len(vocab), labels=all_labels, polarity_head=base.polarity_head or polarity_head
    )
    network = BiLSTMClassifier(config)
    old = artifact.network.state_dict()
    new_state = network.state_dict()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in old.items():
            if name == "embedding.weight":
                target = new_state[name]
                target[: len(artifact.vocab)] = tensor
                rows = slice(len(artifact.vocab), len(vocab))
                target[rows] = _new_rows(tensor, vocab.tokens[rows], new_word_init, vectors, artifact.vocab, generator)
            elif name.startswith("output."):
                target = new_state[name]
                for row, label in enumerate(all_labels):
                    if label in base.labels:
                        target[row] = tensor[base.labels.index(label)]
                    elif name == "output.weight":
                        target[row].normal_(0.0, float(tensor.std()), generator=generator)
                    else:  # a new label starts as the least likely one: it has no evidence yet
                        target[row].fill_(float(tensor.min()))
            else:
                new_state[name].copy_(tensor)
    network.load_state_dict(new_state)
    report = {
        "artifact": artifact.path.name,
        "version": artifact.version,
        "labels": list(base.labels),
        "new_labels": [label for label in all_labels if label not in base.labels],
        "vocab_size": len(artifact.vocab),
        "new_words": len(vocab) - len(artifact.vocab),
        "new_word_init": new_word_init,
        "polarity_head_added": config.polarity_head and not base.polarity_head,
    }
    return Start(network, vocab, report, list(base.labels), artifact.metrics)


def _new_rows(
    embedding: torch.Tensor,
    tokens: Sequence[str],
    how: str,
    vectors: str | Path | None,
    base: Vocab,
    generator: torch.Generator,
) -> torch.Tensor:
    rows = embedding[UNK_ID].expand(len(tokens), -1).clone()
    if not tokens or how == "unk":
        return rows
    if how == "random":
        return torch.randn(len(tokens), embedding.size(1), generator=generator) * float(embedding[2:].std())
    if vectors is None:
        raise ValueError("--new-word-init vectors needs word vectors (--init-vectors DIR)")
    from training.vectors import read_vectors

    words, table = read_vectors(vectors)
    if table.size(1) != embedding.size(1):
        raise ValueError(f"{vectors}: vectors have {table.size(1)} dimensions, the embedding {embedding.size(1)}")
    index = {w: i for i, w in enumerate(words)}
    shared = [(i, index[t]) for i, t in enumerate(base.tokens) if i > UNK_ID and t in index]
    if len(shared) < table.size(1):
        return rows  # too few words in common to fit a map: keep the unknown word's vector
    source = table[[j for _, j in shared]]
    target = embedding[[i for i, _ in shared]]
    mapping = torch.linalg.lstsq(source, target).solution  # (dim, dim): vector space -> embedding space
    for r, token in enumerate(tokens):
        if (j := index.get(token)) is not None:
            rows[r] = table[j] @ mapping
    return rows


# --- replay ---------------------------------------------------------------------------------------


@dataclass
class Replay:
    """A sample of the artifact's own training rows and its validation rows."""

    train: list[Example]
    val: list[Example]
    report: dict[str, Any]


def find_sources(metrics: dict[str, Any], search: Sequence[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Find each training file that `metrics` names among the files and folders in `search`.

    By the file's SHA-256, or, where metrics.json records the rows' own checksum ("data_rows"), by
    the rows a file of the same name (or any aclImdb archive, for the IMDB source) holds: a mirror's
    archive may differ byte for byte and hold the very same reviews. A file of that name with other
    rows is refused (it is not the data the artifact learnt from, so its split would not be the
    artifact's).
    """
    named = [d for d in metrics.get("data") or [] if isinstance(d, dict) and d.get("sha256")]
    if not named:
        raise DataError("the artifact's metrics.json names no training files (its 'data' list is empty)")
    candidates: list[Path] = []
    for place in search:
        path = Path(place)
        if path.is_dir():
            candidates.extend(sorted(p for p in path.iterdir() if p.is_file() or p.is_dir()))
        elif path.exists():
            candidates.append(path)
    found: list[tuple[Path, dict[str, Any]]] = []
    hashes: dict[Path, str] = {}
    for entry in named:
        match, mismatch = None, None
        for path in candidates:
            same_size = path.is_file() and path.stat().st_size == entry.get("bytes")
            if not same_size and path.name != entry.get("file"):
                continue
            if path not in hashes:
                hashes[path] = str(fingerprint(path)["sha256"]) if path.is_dir() else file_sha256(path)
            if hashes[path] == entry["sha256"]:
                match = path
                break
            if path.name == entry.get("file"):
                mismatch = path
        if match is None:
            match = _same_rows(entry, candidates, metrics.get("data_rows") or {})
            if match is not None:
                mismatch = None
        if match is None:
            places = ", ".join(str(p) for p in search) or "(no paths given)"
            if mismatch is not None:
                raise DataError(
                    f"{mismatch}: SHA-256 {hashes[mismatch]} is not the artifact's {entry['file']} "
                    f"({entry['sha256']}); replay needs the very file the artifact was trained on"
                )
            raise DataError(
                f"the artifact's training file {entry.get('file')} (SHA-256 {entry['sha256'][:16]}...) "
                f"is not among {places}; get it with `python -m training data download` and pass its folder "
                "with --replay-from"
            )
        found.append((match, entry))
    return found


def _same_rows(entry: dict[str, Any], candidates: Sequence[Path], data_rows: dict[str, str]) -> Path | None:
    """The candidate whose rows have the checksum metrics.json records for `entry`'s source, if any."""
    name = str(entry.get("file") or "")
    source = artifact_source(entry)
    want = data_rows.get(source)
    if want is None:
        return None
    for path in candidates:
        try:
            imdb = detect_format(path) == "imdb"
        except DataError:
            continue
        if not (path.name == name or (source == "imdb" and imdb)):
            continue
        options = recorded_options(entry.get("read") or {})
        try:
            rows = read_dataset(path, options=options)
        except DataError:
            continue
        if rows_sha256(rows).get(source_of(path)) == want:
            return path
    return None


def read_replay(
    metrics: dict[str, Any],
    search: Sequence[str | Path],
    n: int,
    *,
    labels: Sequence[str],
    seed: int,
    val_max: int = 0,
) -> Replay:
    """Reproduce the artifact's split of its training files; sample `n` training rows, keep its validation rows.

    `n` is spread evenly over the sources (reviews are not outvoted by 67k phrases); `val_max`
    caps the validation rows scored per source (0: all of them).
    """
    examples: list[Example] = []
    files = []
    for path, entry in find_sources(metrics, search):
        options = recorded_options(entry.get("read") or {})
        source = artifact_source(entry)  # a renamed copy still splits as the artifact's file did
        rows = [renamed(e, source) for e in read_dataset(path, options=options)]
        if strange := sorted({e.label for e in rows} - set(labels)):
            raise DataError(
                f"{path}: labels {strange} are not the artifact's {list(labels)}; its metrics.json does not "
                "record how they were mapped (a 'read' entry with the label_map beside the file)"
            )
        examples.extend(rows)
        files.append({"file": entry["file"], "sha256": entry["sha256"], "found_at": path.name})
    train, val, _ = artifact_split(examples, metrics)
    rng = random.Random(seed)
    by_source: dict[str, list[Example]] = {}
    for example in train:
        by_source.setdefault(example.source, []).append(example)
    sample: list[Example] = []
    sources = sorted(by_source)
    for k, source in enumerate(sources):
        share = n // len(sources) + (1 if k < n % len(sources) else 0)
        sample.extend(rng.sample(by_source[source], min(share, len(by_source[source]))))
    kept_val: list[Example] = []
    for source in sorted({e.source for e in val}):
        rows = [e for e in val if e.source == source]
        kept_val.extend(random.Random(seed).sample(rows, val_max) if 0 < val_max < len(rows) else rows)
    report = {
        "files": files,
        "rows": len(sample),
        "rows_by_source": dict(Counter(e.source for e in sample)),
        "original_val_rows": len(kept_val),
        "original_val_rows_by_source": dict(Counter(e.source for e in kept_val)),
    }
    return Replay(sample, kept_val, report)
