"""Precision: run an artifact's network in fp32, int8 or bf16, built at load time from the same weights.

- "int8": ONNX Runtime's dynamic quantization of the fp32 graph (`quantize_dynamic`): the LSTM's
  input and recurrent matrices and the heads' matrices as int8 (scales per output channel),
  activations quantized per call (`DynamicQuantizeLSTM`, `MatMulInteger`); the embedding stays fp32.
  VNNI (AVX-512 or AVX) runs its int8 dot products; without it the kernels fall back to AVX2 ones.
- "bf16": the torch network under `torch.autocast("cpu", torch.bfloat16)` (oneDNN's bf16 LSTM and
  GEMMs: AVX-512 bf16 or AMX); ONNX Runtime's CPU LSTM has no bf16 kernel.
- "auto": on the runtime chosen (SENTIMENT_RUNTIME), the reduced precision it runs (int8 on ONNX
  Runtime, bf16 on torch) if this CPU has the instructions for it, the artifact's metrics.json records
  that it passed the accuracy gate on the artifact's validation sets for these very weights
  (`recorded_gate`, written by bench/precision_gate.py --record), and it passes `self_check` against
  fp32 at load (the kernels of this machine); else fp32.

No new artifact file: the quantized graph is made from the weights each time, so the model version
(the weights' hash) is the same whichever precision serves.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import Artifact, ArtifactError

PRECISIONS = ("auto", "fp32", "int8", "bf16")
RUNTIME_FOR = {"int8": "onnx", "bf16": "torch"}  # the runtime that runs each reduced precision
SELF_CHECK_FILE = Path(__file__).resolve().parent / "selfcheck_texts.txt"
# Gate thresholds (issue 24): a precision `auto` may pick keeps the same label on >= 99.5% of texts and
# accuracy within 0.2 points of fp32 on every validation set (bench/precision_gate.py runs them all).
MIN_SAME_LABEL = 0.995
MAX_ACCURACY_CHANGE = 0.002
# The load-time self-check also bounds each probability's change. Measured on the validation sets and 5,000
# IMDB test reviews: int8 0.029 at most, bf16 0.012 (BENCHMARKS.md "Precision"); a broken kernel moves more.
SELF_CHECK_MAX_PROBABILITY_CHANGE = 0.1


class PrecisionUnavailable(ArtifactError):
    """The precision asked for cannot run with the runtime asked for, or its runtime is not installed."""


@dataclass(frozen=True)
class GateResult:
    """How a precision's answers compare with fp32's on the same texts."""

    texts: int
    same_label: float  # fraction of texts given the same label as fp32
    max_probability_change: float  # largest |p - p_fp32| over every text and label
    accuracy_fp32: float | None = None  # with gold labels only
    accuracy: float | None = None
    passed: bool = False

    def describe(self) -> str:
        parts = [
            f"same label {self.same_label:.2%} of {self.texts} texts",
            f"max |dp| {self.max_probability_change:.3f}",
        ]
        if self.accuracy is not None and self.accuracy_fp32 is not None:
            parts.append(f"accuracy {self.accuracy_fp32:.2%} -> {self.accuracy:.2%}")
        return ", ".join(parts) + ("" if self.passed else ": FAILED")


def accuracy_gate(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    gold: Sequence[int] | None = None,
    min_same_label: float = MIN_SAME_LABEL,
    max_accuracy_change: float = MAX_ACCURACY_CHANGE,
    max_probability_change: float | None = None,
) -> GateResult:
    """Compare (N, labels) probabilities of a precision with fp32's on the same N texts.

    Passes when the same label is given to at least `min_same_label` of the texts, accuracy (with
    `gold` label indices) is within `max_accuracy_change` of fp32's, and no probability moved more than
    `max_probability_change` (when given).
    """
    if reference.shape != candidate.shape or not len(reference):
        raise ValueError(f"need two non-empty arrays of one shape, not {reference.shape} and {candidate.shape}")
    ref_label, cand_label = reference.argmax(axis=1), candidate.argmax(axis=1)
    same = float((ref_label == cand_label).mean())
    change = float(np.abs(reference - candidate).max())
    passed = same >= min_same_label and (max_probability_change is None or change <= max_probability_change)
    acc_ref = acc = None
    if gold is not None:
        truth = np.asarray(gold)
        acc_ref, acc = float((ref_label == truth).mean()), float((cand_label == truth).mean())
        # a rounding slack: 0.2 points of 1,000 texts is exactly 2 texts
        passed = passed and abs(acc - acc_ref) <= max_accuracy_change + 1e-9
    return GateResult(len(reference), same, change, acc_ref, acc, passed)


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (from /proc/cpuinfo; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(
        next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    )


def fast_on_this_cpu(precision: str) -> bool:
    """Whether the CPU has the instructions that make `precision` faster than fp32 (int8: VNNI; bf16: AVX-512
    bf16 or AMX). Without them the precision still runs, on slower fallback kernels; `auto` skips it."""
    flags = cpu_flags()
    if precision == "int8":
        return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    if precision == "bf16":
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    return precision == "fp32"


GATE_KEY = "precision_gate"  # metrics.json: the accuracy gate's verdicts, for the weights of one version


def recorded_gate(metrics: Mapping[str, Any], version: str) -> dict[str, bool]:
    """precision -> passed, as the artifact's metrics.json records the gate for `version` (else empty:
    a gate checked on other weights says nothing about these)."""
    gate = metrics.get(GATE_KEY)
    if not isinstance(gate, dict) or gate.get("version") != version:
        return {}
    return {p: bool(r.get("passed")) for p, r in (gate.get("precisions") or {}).items() if isinstance(r, dict)}


def auto_candidates(runtime: str) -> list[str]:
    """Precisions `auto` tries on `runtime` ("onnx" or "torch"), fastest first: those the runtime runs
    and this CPU has the instructions for. `auto` never changes the runtime (SENTIMENT_RUNTIME picks it):
    int8 on ONNX Runtime, bf16 on torch (BENCHMARKS.md "Precision")."""
    return [p for p in ("int8", "bf16") if RUNTIME_FOR[p] == runtime and fast_on_this_cpu(p)]


def quantize_int8(
    model: object, *, per_channel: bool = True, embedding: bool = False, exclude: Sequence[str] = ()
) -> object:
    """The ONNX graph `model` (an onnx.ModelProto) with int8 weights, activations quantized per call.

    Scales per output channel (`per_channel`) and the embedding table left fp32 (`embedding`): on the
    three-class validation sentences, ONNX Runtime's defaults (one scale per tensor, the table int8 too)
    changed 0.68% of the labels, more than the gate allows; these changed 0.21% (BENCHMARKS.md).
    Nodes named in `exclude` stay fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    hush = _PreProcessAdvice()
    root.addFilter(hush)  # quantize_dynamic advises pre-processing on the root logger, twice per call
    try:
        with tempfile.TemporaryDirectory(prefix="sentiment-int8-") as folder:
            source, target = Path(folder, "fp32.onnx"), Path(folder, "int8.onnx")
            onnx.save(model, source)  # type: ignore[arg-type]
            # "Gather" would quantize the embedding lookup: a table read, no arithmetic for VNNI to speed up
            ops = ["LSTM", "MatMul", "Gemm"] + (["Gather"] if embedding else [])
            quantize_dynamic(
                source,
                target,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                op_types_to_quantize=ops,
                nodes_to_exclude=list(exclude),
            )
            return onnx.load(target)
    finally:
        root.removeFilter(hush)


class _PreProcessAdvice(logging.Filter):
    """Drop ONNX Runtime's advice to pre-process the graph: measured, `quant_pre_process` changed neither
    the quantized graph's speed nor its answers here (the graph is built already shape-typed and lean)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def self_check_texts() -> list[str]:
    """The texts of SELF_CHECK_FILE, then runs of 4, 16 and all of them joined (up to a long review)."""
    lines = [line.strip() for line in SELF_CHECK_FILE.read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line and not line.startswith("#")]
    joined = [" ".join(texts[i : i + n]) for n in (4, 16) for i in range(0, len(texts), n)]
    return texts + joined + [" ".join(texts * 2)]


def require_runtime(artifact: Artifact, precision: str, runtime: str) -> str:
    """The runtime that runs `precision` when `runtime` ("auto", "onnx", "torch") is asked for."""
    if precision == "fp32":
        return runtime
    wanted = RUNTIME_FOR[precision]
    if runtime not in ("auto", wanted):
        raise PrecisionUnavailable(
            artifact.path,
            f"precision {precision!r} runs on the {wanted!r} runtime, not {runtime!r}: choose runtime {wanted!r} "
            f"(SENTIMENT_RUNTIME={wanted}) or another precision (SENTIMENT_PRECISION)",
        )
    return wanted


def self_check(reference: np.ndarray, candidate: np.ndarray) -> GateResult:
    """The load-time check of `auto`: probabilities of `self_check_texts()` under fp32 and a candidate."""
    return accuracy_gate(reference, candidate, max_probability_change=SELF_CHECK_MAX_PROBABILITY_CHANGE)
