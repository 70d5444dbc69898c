"""One rule for which tokens of a text the model reads (head and tail), used by serving, explanations
and training alike: if they drifted, the served model would read text differently from how it learned."""

from __future__ import annotations

from pathlib import Path

from model import ModelConfig, load_predictor
from model.explain import OcclusionPlan
from training.data import Example
from training.train import encode


def test_head_and_tail() -> None:
    config = ModelConfig(vocab_size=10, max_tokens=6, head_tokens=2)
    assert config.read(list(range(5))) == [0, 1, 2, 3, 4]
    assert config.read(list(range(10))) == [0, 1, 6, 7, 8, 9]
    assert ModelConfig(vocab_size=10, max_tokens=6, head_tokens=6).read(list(range(10))) == list(range(6))
    assert ModelConfig(vocab_size=10, max_tokens=6, head_tokens=0).read(list(range(10))) == list(range(4, 10))
    assert config.read(range(8)) == [0, 1, 4, 5, 6, 7]  # any sequence: explanations pass positions


def test_serving_explaining_and_training_read_the_same_tokens(tiny_artifact: Path) -> None:
    predictor = load_predictor(tiny_artifact)
    config = predictor.artifact.config
    words = ["good", "bad", "movie", "plot"] * (config.max_tokens // 2)  # longer than max_tokens
    text = " ".join(words)
    tokens = predictor.tokenizer.tokenize(text)
    assert len(tokens) > config.max_tokens
    served = predictor.encode(text).ids
    assert served == predictor.artifact.vocab.encode(config.read(tokens))
    plan = OcclusionPlan(predictor, text)
    assert [plan.spans[i].text for i in plan.read] == config.read([s.text for s in plan.spans])
    assert len(plan.read) == config.max_tokens
    example = Example(text, "positive", "test")
    assert encode([example], [tokens], predictor.artifact.vocab, config).ids == [served]
