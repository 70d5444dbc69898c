"""Tokenizer, the embedding+BiLSTM network, artifact save/load and `Predictor`.

Importing this package does not import torch: the service can run on ONNX Runtime alone. The
torch network (`BiLSTMClassifier`) is imported on first use.
"""

from typing import TYPE_CHECKING, Any

from model.artifact import Artifact, ArtifactError, load_artifact, save_artifact
from model.config import ModelConfig
from model.explain import Explanation, TokenWeight
from model.forward import RuntimeUnavailable
from model.precision import PRECISIONS, GateResult, PrecisionUnavailable, accuracy_gate
from model.predictor import (
    DEFAULT_MODEL_DIR,
    RUNTIMES,
    ZH_MODEL_DIR,
    Encoded,
    Prediction,
    Predictor,
    SentencePrediction,
    load_predictor,
)
from model.tokenizer import Vocab, normalize, tokenize
from model.tokenizers import TOKENIZERS, Tokenizer, get_tokenizer

if TYPE_CHECKING:
    from model.network import BiLSTMClassifier

__all__ = [
    "DEFAULT_MODEL_DIR",
    "ZH_MODEL_DIR",
    "PRECISIONS",
    "RUNTIMES",
    "Artifact",
    "ArtifactError",
    "BiLSTMClassifier",
    "Encoded",
    "Explanation",
    "GateResult",
    "ModelConfig",
    "Prediction",
    "PrecisionUnavailable",
    "Predictor",
    "RuntimeUnavailable",
    "SentencePrediction",
    "TOKENIZERS",
    "TokenWeight",
    "accuracy_gate",
    "Tokenizer",
    "Vocab",
    "get_tokenizer",
    "load_artifact",
    "load_predictor",
    "normalize",
    "save_artifact",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    if name == "BiLSTMClassifier":
        from model.network import BiLSTMClassifier

        return BiLSTMClassifier
    raise AttributeError(f"module 'model' has no attribute {name!r}")
