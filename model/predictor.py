"""`Predictor`: texts in, predictions out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from model.artifact import Artifact, load_artifact
from model.tokenizer import PAD_ID, UNK_ID, tokenize

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # probability of `label`
    probabilities: dict[str, float]  # label -> probability; sums to 1
    tokens_used: int  # tokens the model read
    tokens_total: int  # tokens in the text; more than tokens_used when it was truncated


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    tokens_total: int


class Predictor:
    """Run a loaded artifact on texts: sorted by length, batched, under inference mode.

    A text gets the same probabilities alone or in any batch (within float rounding): the
    network never lets padding reach a valid step, and pooling ignores padded positions.
    """

    def __init__(self, artifact: Artifact, *, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.artifact = artifact
        self.batch_size = batch_size
        self.network = artifact.network.eval()

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def labels(self) -> list[str]:
        return list(self.artifact.config.labels)

    def encode(self, text: str) -> Encoded:
        """Tokenise, truncate (keeping both ends) and map to ids."""
        config = self.artifact.config
        tokens = tokenize(text)
        total = len(tokens)
        if total > config.max_tokens:
            tail = config.max_tokens - config.head_tokens
            tokens = tokens[: config.head_tokens] + (tokens[-tail:] if tail else [])
        return Encoded(self.artifact.vocab.encode(tokens), total)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one prediction per text, in the order given."""
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts; wrap a single text in a list")
        encoded = [self.encode(t) for t in texts]
        return self.predict_encoded(encoded)

    def predict_encoded(self, encoded: Sequence[Encoded]) -> list[Prediction]:
        probabilities = self.probabilities([e.ids for e in encoded])
        labels = self.artifact.config.labels
        results = []
        for enc, row in zip(encoded, probabilities.tolist(), strict=True):
            best = max(range(len(labels)), key=row.__getitem__)
            results.append(
                Prediction(
                    label=labels[best],
                    score=row[best],
                    probabilities=dict(zip(labels, row, strict=True)),
                    tokens_used=len(enc.ids),
                    tokens_total=enc.tokens_total,
                )
            )
        return results

    def probabilities(self, id_lists: Sequence[list[int]]) -> torch.Tensor:
        """Return (N, num_labels) float64 probabilities for id lists, in the order given."""
        out = torch.empty(len(id_lists), len(self.artifact.config.labels), dtype=torch.float64)
        with torch.inference_mode():
            for chunk in length_buckets([len(ids) for ids in id_lists], self.batch_size):
                # An empty text reads as one unknown token: it still gets a (neutral-ish) answer.
                rows = [id_lists[i] or [UNK_ID] for i in chunk]
                width = len(rows[0])
                ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
                for r, row in enumerate(rows):
                    ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
                lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
                logits = self.network(ids, lengths)
                out[torch.tensor(chunk)] = torch.softmax(logits.double(), dim=-1)
        return out


def length_buckets(lengths: Sequence[int], batch_size: int, *, min_fill: float = 0.75) -> list[list[int]]:
    """Group indices longest first into forward passes of similar length.

    A pass pads every text to its longest one, so a 600-token review next to 20-token sentences
    would make them cost 600 steps each. A new pass starts when a text is shorter than `min_fill`
    of the pass's longest text, or the pass is full. Small passes cost little more per text on a
    CPU (BENCHMARKS.md), padding costs in proportion.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for i in order:
        current = buckets[-1] if buckets else None
        if current is None or len(current) >= batch_size or lengths[i] < min_fill * lengths[current[0]]:
            buckets.append([i])
        else:
            current.append(i)
    return buckets


def load_predictor(path: str | Path | None = None, *, batch_size: int = 64) -> Predictor:
    """Return a Predictor for the artifact at `path`, or for the shipped default model."""
    return Predictor(load_artifact(DEFAULT_MODEL_DIR if path is None else path), batch_size=batch_size)
