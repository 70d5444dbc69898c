"""How much explanation work one request may ask for: refused up front (413), not after 30 s of CPU.

An occlusion explanation of a text the model reads as n tokens runs n + 1 rows of about n tokens
(`model/explain.py`), so a request's work is about the sum of n * (n + 1) over its texts, in tokens
of forward passes. The budget is what finishes inside the request timeout: set it
(`SENTIMENT_EXPLAIN_BUDGET_TOKENS`) or leave it at 0 to have it measured, once per loaded model,
the first time an explanation is asked for: forward tokens per second on rows of explanation size,
times `SENTIMENT_REQUEST_TIMEOUT_S`, times `SHARE` (the rest stays for queueing and the traffic
beside it). A request over the budget would have answered 503 `timeout`, which clients retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from model import Predictor
from service.errors import TooLarge

SHARE = 0.5
PROBE_ROWS, PROBE_TOKENS = 64, 128  # one probe: 8,192 tokens, ~0.1-0.3 s for the shipped model


class ExplainBudgetExceeded(TooLarge):
    code = "explain_budget_exceeded"


@dataclass(frozen=True)
class Budget:
    tokens: int  # forward tokens one request's explanations may take
    rate: float | None  # measured forward tokens / s (None: set by SENTIMENT_EXPLAIN_BUDGET_TOKENS)


def measure_rate(predictor: Predictor) -> float:
    """Forward tokens per second of this model on rows of explanation size (the best of 3 probes)."""
    vocab = max(3, len(predictor.artifact.vocab))
    rows = [[2 + (r * 31 + t * 7) % (vocab - 2) for t in range(PROBE_TOKENS)] for r in range(PROBE_ROWS)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        predictor.probabilities(rows)
        best = min(best, time.perf_counter() - started)
    return PROBE_ROWS * PROBE_TOKENS / max(best, 1e-9)


class ExplainBudget:
    def __init__(self, *, tokens: int, timeout_s: float, max_explain_tokens: int) -> None:
        self.fixed = tokens  # 0 = measure
        self.timeout_s = timeout_s
        self.max_explain_tokens = max_explain_tokens
        self._measured: WeakKeyDictionary[Predictor, Budget] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def budget(self, predictor: Predictor) -> Budget:
        """The budget for this model (measured on first use; call it off the event loop)."""
        if self.fixed:
            return Budget(self.fixed, None)
        with self._lock:
            found = self._measured.get(predictor)
            if found is None:
                rate = measure_rate(predictor)
                found = self._measured[predictor] = Budget(int(rate * self.timeout_s * SHARE), rate)
            return found

    def work(self, predictor: Predictor, texts: Sequence[str]) -> int:
        """Forward tokens the explanations of `texts` take (texts over the per-text limit get their own 413)."""
        total = 0
        for text in texts:
            n = len(predictor.encode(text).ids)
            if n <= self.max_explain_tokens:
                total += n * (n + 1)
        return total

    def check(self, predictor: Predictor, texts: Sequence[str]) -> None:
        """Raise ExplainBudgetExceeded (413) when the request's explanations cannot finish in time."""
        work = self.work(predictor, texts)
        budget = self.budget(predictor)
        if work <= budget.tokens:
            return
        how = (
            f"measured {budget.rate:,.0f} tokens/s x SENTIMENT_REQUEST_TIMEOUT_S={self.timeout_s:g} x {SHARE}"
            if budget.rate is not None
            else "SENTIMENT_EXPLAIN_BUDGET_TOKENS"
        )
        raise ExplainBudgetExceeded(
            f"explaining these {len(texts)} texts takes about {work:,} tokens of forward passes; one request may "
            f"take {budget.tokens:,} ({how}): send fewer or shorter texts per request"
        )
