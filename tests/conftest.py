"""Shared fixtures: a tiny random-weight artifact and small datasets, built per test session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from model import BiLSTMClassifier, ModelConfig, Vocab, save_artifact

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "plot", "the", "was", "not", "!", "."]


def make_artifact(
    directory: Path,
    *,
    labels: list[str] | None = None,
    seed: int = 0,
    hidden: int = 16,
    max_tokens: int = 40,
    layers: int = 1,
) -> Path:
    torch.manual_seed(seed)
    vocab = Vocab(("<pad>", "<unk>", *WORDS))
    config = ModelConfig(
        vocab_size=len(vocab),
        labels=labels or ["negative", "positive"],
        embedding_dim=8,
        hidden_size=hidden,
        num_layers=layers,
        max_tokens=max_tokens,
        head_tokens=10,
    )
    network = BiLSTMClassifier(config)
    save_artifact(directory, network=network, vocab=vocab, metrics={"note": "random weights for tests"})
    return directory


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("artifact") / "tiny")


def synthetic_reviews(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts whose label is told by which word family they contain."""
    rng = random.Random(seed)
    positive, negative, filler = ["good", "great", "fine"], ["bad", "awful", "poor"], ["the", "movie", "plot", "was"]
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = [rng.choice(filler) for _ in range(rng.randint(3, 12))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(positive if label == "positive" else negative))
        rows.append((" ".join(words), label))
    return rows
