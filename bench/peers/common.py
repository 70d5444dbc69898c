"""What every peer server shares: the predictor it wraps and the answer it gives (stdlib + model only)."""

from __future__ import annotations

import argparse
import os
from typing import Any

MAX_BATCH_SIZE = 32  # the service's own SENTIMENT_MAX_BATCH_SIZE default
BATCH_TIMEOUT_S = 0.005  # the LitServe setting (5 ms), used for every framework


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args()


def workers() -> int:
    """Inference processes (replicas) per server: PEERS_WORKERS, default 1."""
    return int(os.environ.get("PEERS_WORKERS", "1"))


def load() -> Any:
    """The service's predictor: `load_predictor()` on the shipped model (or SENTIMENT_MODEL_DIR) at
    PEERS_PRECISION, with PEERS_THREADS intra-op threads (0 = ONNX Runtime's default, as the service)."""
    from model.predictor import load_predictor

    return load_predictor(
        os.environ.get("SENTIMENT_MODEL_DIR") or None,
        precision=os.environ.get("PEERS_PRECISION", "fp32"),
        threads=int(os.environ.get("PEERS_THREADS", "0")),
    )


def answers(predictor: Any, texts: list[str]) -> list[dict[str, Any]]:
    """One answer per text, as the service's: label, score and probabilities."""
    return [{"label": p.label, "score": p.score, "probabilities": p.probabilities} for p in predictor.predict(texts)]
