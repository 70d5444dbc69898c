"""Save and load a model artifact: a directory of JSON and safetensors, never a pickle.

config.json          format version, ModelConfig fields: sizes, labels, tokenizer name
vocab.json           {"tokens": [...]}: token i has id i
weights.safetensors  the state dict
metrics.json         what the model scored, on which data, how long it trained
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from model.config import ModelConfig
from model.tokenizer import Vocab
from model.tokenizers import TOKENIZERS, Tokenizer, get_tokenizer

if TYPE_CHECKING:  # torch is imported only where a torch network is built or saved
    from model.network import BiLSTMClassifier

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "weights.safetensors"
METRICS_FILE = "metrics.json"


class ArtifactError(Exception):
    """An artifact that cannot be loaded; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(eq=False)
class Artifact:
    config: ModelConfig
    vocab: Vocab
    weights: dict[str, np.ndarray] = field(repr=False)  # checked: names, shapes, float32, finite
    metrics: dict[str, Any]
    version: str  # short hash of the weights' bytes
    path: Path

    @cached_property
    def network(self) -> BiLSTMClassifier:
        """The torch network in eval mode, built on first use (imports torch)."""
        import torch

        from model.network import BiLSTMClassifier

        network = BiLSTMClassifier(self.config)
        network.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.weights.items()})
        return network.eval()

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer this model was trained with (config.json "tokenizer")."""
        return get_tokenizer(self.config.tokenizer)


def weights_version(weights_path: Path) -> str:
    """Return the model version: the first 12 hex digits of the weights file's SHA-256."""
    return hashlib.sha256(weights_path.read_bytes()).hexdigest()[:12]


def save_artifact(
    directory: str | Path,
    *,
    network: BiLSTMClassifier,
    vocab: Vocab,
    metrics: dict[str, Any] | None = None,
) -> str:
    """Write the artifact into `directory` (created if needed) and return its version."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = network.config
    if len(vocab) != config.vocab_size:
        raise ValueError(f"vocabulary has {len(vocab)} tokens, config says {config.vocab_size}")
    state = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
    (out / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; a service user other than the trainer reads it
    document = {"format_version": FORMAT_VERSION, "tokenizer": config.tokenizer, **config.to_dict()}
    _write_json(out / CONFIG_FILE, document)
    _write_json(out / VOCAB_FILE, {"tokens": list(vocab.tokens)})
    _write_json(out / METRICS_FILE, metrics or {})
    return weights_version(out / WEIGHTS_FILE)


def load_artifact(directory: str | Path) -> Artifact:
    """Load and check an artifact; raise ArtifactError naming the file and problem."""
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(root, "not a directory (an artifact is a directory of files)")
    config = _read_config(root / CONFIG_FILE)
    vocab = _read_vocab(root / VOCAB_FILE, config)
    weights_path = root / WEIGHTS_FILE
    state = _read_weights(weights_path)
    expected = config.parameter_shapes()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ArtifactError(
            weights_path, f"tensors do not match the config: missing {missing}, unexpected {unexpected}"
        )
    for name, shape in expected.items():
        if state[name].shape != shape or state[name].dtype != np.float32:
            raise ArtifactError(
                weights_path,
                f"tensor {name!r} is {tuple(state[name].shape)} {state[name].dtype}, config needs {shape} float32",
            )
        if not np.isfinite(state[name]).all():
            raise ArtifactError(weights_path, f"tensor {name!r} holds NaN or infinite values")
    metrics_path = root / METRICS_FILE
    metrics = _read_json(metrics_path) if metrics_path.exists() else {}
    if not isinstance(metrics, dict):
        raise ArtifactError(metrics_path, "must hold a JSON object")
    return Artifact(config, vocab, state, metrics, weights_version(weights_path), root)


def _write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(path, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise ArtifactError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _read_config(path: Path) -> ModelConfig:
    document = _read_json(path)
    if not isinstance(document, dict):
        raise ArtifactError(path, "must hold a JSON object")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(path, f"format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    tokenizer = document.get("tokenizer")
    if not isinstance(tokenizer, str) or tokenizer not in TOKENIZERS:
        raise ArtifactError(path, f"tokenizer {tokenizer!r} is unknown to this code; known: {', '.join(TOKENIZERS)}")
    names = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(document) - names - {"format_version"})
    if unknown:
        raise ArtifactError(path, f"unknown settings {unknown}")
    labels = document.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ArtifactError(path, "labels must be a list of non-empty strings")
    try:
        return ModelConfig(**{k: v for k, v in document.items() if k in names})
    except (TypeError, ValueError) as exc:
        raise ArtifactError(path, f"invalid model settings: {exc}") from None


def _read_vocab(path: Path, config: ModelConfig) -> Vocab:
    document = _read_json(path)
    tokens = document.get("tokens") if isinstance(document, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ArtifactError(path, 'must hold {"tokens": [strings]}')
    if len(tokens) != config.vocab_size:
        raise ArtifactError(path, f"has {len(tokens)} tokens, config.json says {config.vocab_size}")
    try:
        return Vocab(tuple(tokens))
    except ValueError as exc:
        raise ArtifactError(path, str(exc)) from None


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise ArtifactError(path, "file is missing")
    try:
        # safetensors parses a JSON header and raw tensor bytes: no code can run from this file.
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(path, f"not a valid safetensors file ({exc})") from None
