"""Tokenizer, the embedding+BiLSTM network, artifact save/load and `Predictor`."""

from model.artifact import Artifact, ArtifactError, load_artifact, save_artifact
from model.network import BiLSTMClassifier, ModelConfig
from model.predictor import DEFAULT_MODEL_DIR, Encoded, Prediction, Predictor, load_predictor
from model.tokenizer import Vocab, normalize, tokenize

__all__ = [
    "DEFAULT_MODEL_DIR",
    "Artifact",
    "ArtifactError",
    "BiLSTMClassifier",
    "Encoded",
    "ModelConfig",
    "Prediction",
    "Predictor",
    "Vocab",
    "load_artifact",
    "load_predictor",
    "normalize",
    "save_artifact",
    "tokenize",
]
