"""`Predictor`: texts in, predictions out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model.artifact import Artifact, load_artifact
from model.forward import RUNTIMES, forward_for, resolve_runtime
from model.precision import (
    PRECISIONS,
    GateResult,
    auto_candidates,
    recorded_gate,
    require_runtime,
    self_check,
    self_check_texts,
)
from model.tokenizer import PAD_ID, UNK_ID

if TYPE_CHECKING:
    from model.explain import Explanation

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"
ZH_MODEL_DIR = Path(__file__).resolve().parent / "zh"  # the shipped Chinese model (model/zh/README.md)


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # probability of `label`
    probabilities: dict[str, float]  # label -> probability; sums to 1
    tokens_used: int  # tokens the model read
    tokens_total: int  # tokens in the text; more than tokens_used when it was truncated
    unknown_tokens: int = 0  # of the tokens read, those not in the vocabulary
    # Signed strength in [-1, 1], an estimate of the human mean rating / 4 (VADER's compound,
    # Google's score): the artifact's polarity head, or p(positive) - p(negative) without one.
    polarity: float = 0.0


@dataclass(frozen=True)
class SentencePrediction:
    start: int  # the sentence is text[start:end] of the original text
    end: int
    prediction: Prediction


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    tokens_total: int


class Predictor:
    """Run a loaded artifact on texts: sorted by length, batched, under inference mode.

    A text gets the same probabilities alone or in any batch (within float rounding): the
    network never lets padding reach a valid step, and pooling ignores padded positions. In int8
    only within 0.02: its activations are quantized with one scale per forward pass (model/precision.py).
    """

    def __init__(
        self,
        artifact: Artifact,
        *,
        batch_size: int = 64,
        runtime: str = "auto",
        threads: int = 0,
        precision: str = "fp32",
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if threads < 0:
            raise ValueError("threads must be 0 (the runtime's default) or more")
        self.artifact = artifact
        self.batch_size = batch_size
        self.tokenizer = artifact.tokenizer  # the artifact's own: the model reads text as it was trained to
        if self.tokenizer.warm is not None:
            self.tokenizer.warm()  # its dictionary now (jieba: about a second), not on the first request
        # What `auto` checked at load (None otherwise), and one line saying how the precision was chosen.
        self.precision_check: GateResult | None = None
        self.precision_note = f"{precision} (asked for)"
        if precision == "auto":
            self._choose_precision(runtime, threads)
            return
        self.runtime = resolve_runtime(artifact, require_runtime(artifact, precision, runtime))
        self.precision = precision
        self._forward = forward_for(artifact, self.runtime, precision, threads)

    def _choose_precision(self, runtime: str, threads: int) -> None:
        """`auto`: the runtime's reduced precision if this CPU runs it well, the artifact records a passed
        accuracy gate for it and it passes `self_check` against fp32 here; else fp32 (model/precision.py)."""
        self.runtime, self.precision = resolve_runtime(self.artifact, runtime), "fp32"
        self._forward = forward_for(self.artifact, self.runtime, "fp32", threads)
        candidates = auto_candidates(self.runtime)
        self.precision_note = f"auto: fp32 (this CPU lacks the instructions for {self.runtime}'s reduced precision)"
        if not candidates:
            return
        gate = recorded_gate(self.artifact.metrics, self.version)
        if not any(gate.get(p) for p in candidates):
            verdicts = ", ".join(f"{p} {'passed' if gate[p] else 'failed'}" for p in candidates if p in gate)
            self.precision_note = (
                f"auto: fp32 (the accuracy gate on the validation sets: {verdicts})"
                if verdicts
                else f"auto: fp32 (metrics.json records no accuracy gate of {'/'.join(candidates)} for these weights; "
                "bench/precision_gate.py --record checks it)"
            )
            return
        candidates = [p for p in candidates if gate.get(p)]
        started = time.perf_counter()
        ids = [e.ids for e in (self.encode(t) for t in self_check_texts())]
        reference = self.probabilities(ids)
        failed = []
        for precision in candidates:
            candidate = Predictor(
                self.artifact, batch_size=self.batch_size, runtime=self.runtime, threads=threads, precision=precision
            )
            check = self_check(reference, candidate.probabilities(ids))
            if check.passed:
                self.runtime, self.precision, self._forward = candidate.runtime, precision, candidate._forward
                self.precision_check = check
                self.precision_note = (
                    f"auto: {precision} (self-check at load: {check.describe()}, {time.perf_counter() - started:.2f} s)"
                )
                return
            failed.append(f"{precision} failed the self-check at load: {check.describe()}")
        self.precision_note = "auto: fp32 (" + "; ".join(failed) + ")"

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def labels(self) -> list[str]:
        return list(self.artifact.config.labels)

    def encode(self, text: str) -> Encoded:
        """Tokenise, truncate (keeping both ends) and map to ids."""
        config = self.artifact.config
        tokens = self.tokenizer.tokenize(text)
        return Encoded(self.artifact.vocab.encode(config.read(tokens)), len(tokens))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one prediction per text, in the order given."""
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts; wrap a single text in a list")
        encoded = [self.encode(t) for t in texts]
        return self.predict_encoded(encoded)

    def predict_encoded(self, encoded: Sequence[Encoded]) -> list[Prediction]:
        return self.predictions_from(encoded, self.scores([e.ids for e in encoded]))

    def predictions_from(self, encoded: Sequence[Encoded], scores: np.ndarray) -> list[Prediction]:
        """Predictions for encoded texts from their rows of `scores` (see `scores`)."""
        labels = self.artifact.config.labels
        results = []
        for enc, row in zip(encoded, scores.tolist(), strict=True):
            best = max(range(len(labels)), key=row.__getitem__)
            results.append(
                Prediction(
                    label=labels[best],
                    score=row[best],
                    probabilities=dict(zip(labels, row[: len(labels)], strict=True)),
                    tokens_used=len(enc.ids),
                    tokens_total=enc.tokens_total,
                    unknown_tokens=enc.ids.count(UNK_ID),
                    polarity=row[len(labels)],
                )
            )
        return results

    def explain(self, texts: Sequence[str], *, method: str = "occlusion") -> list[Explanation]:
        """Return each text's prediction with one signed weight per token (see model/explain.py)."""
        from model import explain

        if isinstance(texts, str):
            raise TypeError("explain takes a sequence of texts; wrap a single text in a list")
        if method == "occlusion":
            return explain.occlusion(self, texts)
        if method == "integrated_gradients":
            return explain.integrated_gradients(self, texts)
        raise ValueError(f"method must be one of {explain.METHODS}, not {method!r}")

    def sentences(self, texts: Sequence[str]) -> list[list[SentencePrediction]]:
        """Split each text into sentences (model/sentences.py) and predict them all in one pass."""
        from model.sentences import split_sentences

        if isinstance(texts, str):
            raise TypeError("sentences takes a sequence of texts; wrap a single text in a list")
        spans = [split_sentences(t) for t in texts]
        flat = self.predict([t[s.start : s.end] for t, ss in zip(texts, spans, strict=True) for s in ss])
        out, at = [], 0
        for ss in spans:
            out.append(
                [SentencePrediction(s.start, s.end, p) for s, p in zip(ss, flat[at : at + len(ss)], strict=True)]
            )
            at += len(ss)
        return out

    def probabilities(self, id_lists: Sequence[list[int]]) -> np.ndarray:
        """Return (N, num_labels) float64 probabilities for id lists, in the order given."""
        return self.scores(id_lists)[:, :-1]

    def scores(self, id_lists: Sequence[list[int]]) -> np.ndarray:
        """Return (N, num_labels + 1) float64 rows for id lists, in the order given: each label's
        probability, then the polarity (`Prediction.polarity`)."""
        config = self.artifact.config
        n_labels = len(config.labels)
        out = np.empty((len(id_lists), n_labels + 1), dtype=np.float64)
        for chunk in length_buckets([len(ids) for ids in id_lists], self.batch_size):
            # An empty text reads as one unknown token: it still gets a (neutral-ish) answer.
            rows = [id_lists[i] or [UNK_ID] for i in chunk]
            ids = np.full((len(rows), len(rows[0])), PAD_ID, dtype=np.int64)
            for r, row in enumerate(rows):
                ids[r, : len(row)] = row
            lengths = np.array([len(r) for r in rows], dtype=np.int64)
            raw = self._forward(ids, lengths).astype(np.float64)
            logits = raw[:, :n_labels] - raw[:, :n_labels].max(axis=1, keepdims=True)
            exp = np.exp(logits)
            out[chunk, :n_labels] = exp / exp.sum(axis=1, keepdims=True)
            out[chunk, n_labels] = (
                raw[:, n_labels] if config.polarity_head else derived_polarity(out[chunk, :n_labels], config.labels)
            )
        return out


def derived_polarity(probabilities: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Polarity without a head: p(positive) - p(negative) per row of (N, labels) probabilities; a
    label set without one of them adds nothing for it (all zeros for labels of another kind)."""
    polarity = np.zeros(len(probabilities))
    for name, sign in (("positive", 1.0), ("negative", -1.0)):
        if name in labels:
            polarity += sign * probabilities[:, list(labels).index(name)]
    return polarity


# Padded tokens (rows x the longest row's steps) a forward pass may hold, at least one text. Past
# ~8k tokens a pass's intermediate buffers outgrow the CPU's caches and tokens/s falls by a third
# (BENCHMARKS.md, "Tokens per pass").
PASS_TOKENS = 4096


def length_buckets(
    lengths: Sequence[int], batch_size: int, *, min_fill: float = 0.75, max_tokens: int | None = None
) -> list[list[int]]:
    """Group indices longest first into forward passes of similar length.

    A pass pads every text to its longest one, so a 600-token review next to 20-token sentences
    would make them cost 600 steps each. A new pass starts when a text is shorter than `min_fill`
    of the pass's longest text, or the pass is full: `batch_size` texts, or `max_tokens` padded
    tokens (PASS_TOKENS when None). Small passes cost little more per text on a CPU (BENCHMARKS.md),
    padding costs in proportion.
    """
    max_tokens = PASS_TOKENS if max_tokens is None else max_tokens
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for i in order:
        current = buckets[-1] if buckets else None
        if (
            current is None
            or len(current) >= batch_size
            or lengths[i] < min_fill * lengths[current[0]]
            or (len(current) + 1) * lengths[current[0]] > max_tokens
        ):
            buckets.append([i])
        else:
            current.append(i)
    return buckets


def load_predictor(
    path: str | Path | None = None,
    *,
    batch_size: int = 64,
    runtime: str = "auto",
    threads: int = 0,
    precision: str = "fp32",
) -> Predictor:
    """Return a Predictor for the artifact at `path`, or for the shipped default model."""
    artifact = load_artifact(DEFAULT_MODEL_DIR if path is None else path)
    return Predictor(artifact, batch_size=batch_size, runtime=runtime, threads=threads, precision=precision)
