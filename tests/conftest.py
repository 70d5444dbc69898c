"""Shared fixtures: a tiny random-weight artifact and small datasets, built per test session."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from model import BiLSTMClassifier, ModelConfig, Vocab, save_artifact
from tests.support import pgserver
from tests.support.pgserver import PostgresServer

if TYPE_CHECKING:
    from training.data import Example
    from training.train import TrainSettings

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "plot", "the", "was", "not", "!", "."]


def make_artifact(
    directory: Path,
    *,
    labels: list[str] | None = None,
    seed: int = 0,
    hidden: int = 16,
    max_tokens: int = 40,
    layers: int = 1,
    polarity_head: bool = False,
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
        polarity_head=polarity_head,
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


def synthetic_task(**settings: object) -> tuple[list[Example], TrainSettings]:
    """600 `synthetic_reviews` as training examples, and small settings on which four epochs learn
    them (validation accuracy >= 0.9, chance 0.5); `settings` overrides TrainSettings fields."""
    from training.data import Example
    from training.train import TrainSettings

    examples = [Example(t, label, "synthetic") for t, label in synthetic_reviews(600)]
    tiny = {"embedding_dim": 16, "hidden_size": 16, "max_tokens": 40, "head_tokens": 10}
    learns = TrainSettings(epochs=4, batch_size=16, lr=5e-3, patience=4, min_freq=1, threads=1, model=tiny)
    return examples, dataclasses.replace(learns, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (tests get their own database from `postgres_url`).

    Skipped where PostgreSQL is not installed, except in CI (CI=true), where that is a failure:
    `.ci/run` installs it.
    """
    pgserver.require()
    with PostgresServer() as server:
        yield server


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty PostgreSQL database for one test."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test once on a SQLite file and once on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("postgres_url"))
