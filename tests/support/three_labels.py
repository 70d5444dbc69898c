"""A tiny negative / neutral / positive artifact that answers sensibly without a training run.

Random weights give three labels and a polarity, but not a text that is clearly positive in one
sentence and clearly negative in the next. Here the random encoder stays and only the two heads are
set: a least-squares fit (ridge) of its pooled features of the `EXAMPLES` sentences to their
labels' logits and polarities. The example sentences then read as labelled ("The movie was
great." positive, polarity near +0.8; "The plot was awful!" negative, near -0.8; "The movie."
neutral, near 0); other texts get whatever the fit gives them.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from model import BiLSTMClassifier, ModelConfig, Vocab, save_artifact, tokenize
from tests.conftest import WORDS

LABELS = ["negative", "neutral", "positive"]
EXAMPLES = {
    "negative": ["The plot was awful!", "Poor plot.", "Bad movie.", "The movie was bad.", "Awful."],
    "neutral": ["The movie.", "The plot.", "The movie was the movie.", "Movie.", "The plot was the plot."],
    "positive": ["The movie was great.", "Good plot.", "Great movie!", "The plot was good.", "Fine."],
}
POLARITY = {"negative": -0.8, "neutral": 0.0, "positive": 0.8}


def make_three_label_artifact(directory: Path, *, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    vocab = Vocab(("<pad>", "<unk>", *WORDS))
    config = ModelConfig(
        vocab_size=len(vocab),
        labels=LABELS,
        embedding_dim=8,
        hidden_size=16,
        num_layers=1,
        max_tokens=40,
        head_tokens=10,
        polarity_head=True,
    )
    network = BiLSTMClassifier(config).eval()
    texts = [t for label in LABELS for t in EXAMPLES[label]]
    labels = [label for label in LABELS for _ in EXAMPLES[label]]
    with torch.no_grad():
        features = _features(network, vocab, texts)
        x = torch.cat([features, torch.ones(len(texts), 1)], dim=1).double()  # a bias column
        logits = torch.tensor([[4.0 if label == name else -2.0 for name in LABELS] for label in labels])
        polarity = torch.tensor([[math.atanh(POLARITY[label])] for label in labels])
        solve = torch.linalg.solve(x.T @ x + 1e-4 * torch.eye(x.shape[1], dtype=x.dtype), x.T)  # ridge
        heads = solve @ torch.cat([logits, polarity], dim=1).double()  # (features + 1, labels + 1)
        network.output.weight.copy_(heads[:-1, :-1].T)
        network.output.bias.copy_(heads[-1, :-1])
        assert network.polarity is not None
        network.polarity.weight.copy_(heads[:-1, -1:].T)
        network.polarity.bias.copy_(heads[-1, -1:])
    save_artifact(directory, network=network, vocab=vocab, metrics={"note": "random encoder, fitted heads, tests"})
    return directory


def _features(network: BiLSTMClassifier, vocab: Vocab, texts: list[str]) -> torch.Tensor:
    ids = [vocab.encode(tokenize(t)) for t in texts]
    padded = torch.zeros(len(ids), max(len(i) for i in ids), dtype=torch.long)
    for row, i in enumerate(ids):
        padded[row, : len(i)] = torch.tensor(i)
    return network.features(padded, torch.tensor([len(i) for i in ids]))
