"""The forward pass of an artifact's network on a runtime (ONNX Runtime or torch) in a precision."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.artifact import Artifact, ArtifactError

# "onnx": ONNX Runtime, faster here at every batch size and no torch import (BENCHMARKS.md);
# "torch": the training network itself; "auto": onnx when onnxruntime is installed.
RUNTIMES = ("auto", "onnx", "torch")
_RUNTIME_PACKAGE = {"onnx": "onnxruntime", "torch": "torch"}


class RuntimeUnavailable(ArtifactError):
    """The runtime asked for is not installed here (the serving image has ONNX Runtime only)."""

    def __init__(self, path: Path, runtime: str) -> None:
        package = _RUNTIME_PACKAGE[runtime]
        other = "onnx" if runtime == "torch" else "torch"
        hint = "install the train extra or use the train image" if runtime == "torch" else "install onnxruntime"
        super().__init__(
            path,
            f"runtime {runtime!r} needs the package {package!r}, which is not installed: "
            f"{hint}, or choose runtime {other!r} (SENTIMENT_RUNTIME={other})",
        )
        self.runtime = runtime


# ids (B, T), lengths (B,) -> logits (B, L), and the polarity head's output as column L when there is one
Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def resolve_runtime(artifact: Artifact, runtime: str) -> str:
    """ "auto" -> onnx when onnxruntime is installed, else torch; RuntimeUnavailable when it is not installed."""
    if runtime == "auto":
        runtime = "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"
    if importlib.util.find_spec(_RUNTIME_PACKAGE[runtime]) is None:
        raise RuntimeUnavailable(artifact.path, runtime)
    return runtime


def forward_for(artifact: Artifact, runtime: str, precision: str, threads: int) -> Forward:
    if runtime == "onnx":
        return _onnx_forward(artifact, threads, precision)
    return _torch_forward(artifact, threads, precision)


def _onnx_forward(artifact: Artifact, threads: int, precision: str) -> Forward:
    from model.onnx_backend import OnnxNetwork

    config = artifact.config
    return OnnxNetwork(artifact.weights, config.num_layers, config.hidden_size, threads=threads, precision=precision)


def _torch_forward(artifact: Artifact, threads: int, precision: str) -> Forward:
    import contextlib

    import torch

    if threads:
        torch.set_num_threads(threads)
    network = artifact.network

    def autocast() -> contextlib.AbstractContextManager[object]:
        # bf16: oneDNN's bf16 LSTM and GEMMs; weights stay fp32 in memory and are cast per call
        return torch.autocast("cpu", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def forward(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast():
            logits, polarity = network.outputs(torch.from_numpy(ids), torch.from_numpy(lengths))
            out = logits if polarity is None else torch.cat([logits, polarity.unsqueeze(1)], dim=1)
            return out.float().numpy()

    return forward
