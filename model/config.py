"""The network's settings, readable without torch (the service may run on ONNX Runtime)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from model.tokenizers import DEFAULT_TOKENIZER, get_tokenizer

T = TypeVar("T")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")  # ISO 639-1 (or -3 where a language has no two-letter code)


@dataclass
class ModelConfig:
    vocab_size: int  # rows of the embedding table, padding (0) and unknown (1) included
    labels: list[str] = field(default_factory=lambda: ["negative", "positive"])  # output order
    embedding_dim: int = 128  # E
    hidden_size: int = 128  # H, per direction
    num_layers: int = 1  # stacked BiLSTM layers
    dropout: float = 0.2  # before the output layer (and between LSTM layers)
    embedding_dropout: float = 0.1  # drops whole words (all of a token's vector) while training
    max_tokens: int = 600  # longer texts keep their first `head_tokens` and their last tokens
    head_tokens: int = 150  # reviews tend to put their verdict at the end: keep both ends
    # A second head beside the classifier: the signed polarity in [-1, 1] (tanh), trained on graded
    # human ratings (mean rating / scale). Without it, polarity is p(positive) - p(negative).
    polarity_head: bool = False
    # How text becomes tokens (model/tokenizers/): a name from the registry, recorded so that a model
    # always reads text as it was trained to. Artifacts from before the registry read regex-word-v1.
    tokenizer: str = DEFAULT_TOKENIZER
    # The language the model reads (an ISO 639-1 code: "en", "zh"), so a service serving several can
    # route each text by its language and refuse one that no model reads. None: not stated, the model
    # is given any text (artifacts from before this field).
    language: str | None = None

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError("vocab_size must be at least 2 (padding and unknown)")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be two or more distinct names")
        for name in ("embedding_dim", "hidden_size", "num_layers", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.head_tokens <= self.max_tokens:
            raise ValueError("head_tokens must lie between 0 and max_tokens")
        for name in ("dropout", "embedding_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1)")
        get_tokenizer(self.tokenizer)  # an unknown name raises, naming the known ones
        if self.language is not None and not LANGUAGE_CODE.fullmatch(self.language):
            raise ValueError(f"language {self.language!r} must be a lower-case ISO 639 code such as 'en' or 'zh'")

    def read(self, tokens: Sequence[T]) -> list[T]:
        """The tokens of a text the model reads: all, or the first `head_tokens` and the last
        `max_tokens - head_tokens` of a longer one. The one rule serving (`Predictor.encode`),
        explanations (which positions are read) and training use, so a model reads text as it was trained."""
        if len(tokens) <= self.max_tokens:
            return list(tokens)
        tail = self.max_tokens - self.head_tokens
        return [*tokens[: self.head_tokens], *(tokens[-tail:] if tail else [])]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of `BiLSTMClassifier(self).state_dict()` and its shape (float32)."""
        e, h, g = self.embedding_dim, self.hidden_size, 4 * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (self.vocab_size, e)}
        for direction in ("forward_lstms", "backward_lstms"):
            for i in range(self.num_layers):
                prefix = f"{direction}.{i}."
                shapes[prefix + "weight_ih_l0"] = (g, e if i == 0 else 2 * h)
                shapes[prefix + "weight_hh_l0"] = (g, h)
                shapes[prefix + "bias_ih_l0"] = (g,)
                shapes[prefix + "bias_hh_l0"] = (g,)
        shapes["output.weight"] = (len(self.labels), 4 * h)
        shapes["output.bias"] = (len(self.labels),)
        if self.polarity_head:
            shapes["polarity.weight"] = (1, 4 * h)
            shapes["polarity.bias"] = (1,)
        return shapes
