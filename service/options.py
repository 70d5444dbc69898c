"""Prediction options: `explain` (token attributions) and `sentences` (per-sentence predictions and
the document-level `mixed` flag).

A request without options never comes here (the routes and the fast path answer it as before),
so the default answer stays byte for byte what it was. Explanations are jobs of the micro-batcher
(service/batcher.py); sentences are plain texts of the same pass as the text they come from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from model import Explanation
from model.sentences import SentenceSpan, is_mixed, split_sentences
from service.batcher import Outcome
from service.errors import RequestTimeout, ServiceError, TooLongToExplain
from service.served import ServedModel
from service.state import ServiceState


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    sentences: list[tuple[SentenceSpan, Outcome]] | None


async def predict_with_options(
    service: ServiceState, served: ServedModel, texts: list[str], *, explain: bool, sentences: bool
) -> list[Answer | ServiceError]:
    """Predict checked texts with the options asked; a text too long to explain gets its error."""
    batcher = served.batcher
    spans: list[list[SentenceSpan]] | None = None
    if sentences:  # Bling Fire: ~1-2 ms for a long review, off the event loop all the same
        spans = await asyncio.to_thread(lambda: [split_sentences(t) for t in texts])
    if explain:  # work that cannot finish inside the request timeout is a 413 now, not a 503 in 30 s
        await asyncio.to_thread(service.explain_budget.check, batcher.predictor, texts)
    futures = batcher.submit_explain(texts) if explain else batcher.submit(texts)
    pieces = [t[s.start : s.end] for t, ss in zip(texts, spans or [], strict=False) for s in ss]
    try:
        sentence_futures = batcher.submit(pieces) if pieces else []
    except ServiceError:
        for future in futures:
            future.cancel()
        raise
    every = futures + sentence_futures
    try:
        async with asyncio.timeout(service.settings.request_timeout_s):
            results = await asyncio.gather(*every, return_exceptions=True)
    except TimeoutError:
        raise RequestTimeout("the prediction took too long; retry later", headers={"Retry-After": "1"}) from None
    finally:
        for future in every:
            future.cancel()  # no-op when done; frees the queue when the client gave up or we timed out
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, TooLongToExplain):
            raise result  # the batch failed (503): the whole request does, as without options
    answers: list[Answer | ServiceError] = []
    at = len(texts)
    for i, result in enumerate(results[: len(texts)]):
        own: list[tuple[SentenceSpan, Outcome]] | None = None
        if spans is not None:
            own = list(zip(spans[i], results[at : at + len(spans[i])], strict=True))  # type: ignore[arg-type]
            at += len(spans[i])
        answers.append(result if isinstance(result, ServiceError) else Answer(result, own))  # type: ignore[arg-type]
    return answers


def option_fields(answer: Answer) -> dict[str, Any]:
    """The fields the options add to a `Sentiment` document."""
    fields: dict[str, Any] = {}
    if answer.outcome.explanation is not None:
        fields["explanation"] = explanation_document(answer.outcome.explanation)
    if answer.sentences is not None:
        # Only here, not on every answer: the sentence pass costs 15-25% of a plain prediction even
        # on one-sentence texts (bench/mixed_bench.py, BENCHMARKS.md "Mixed").
        fields["mixed"] = is_mixed(o.prediction for _, o in answer.sentences)
        fields["sentences"] = [
            {
                "start": span.start,
                "end": span.end,
                "label": o.prediction.label,
                "score": o.prediction.score,
                "probabilities": o.prediction.probabilities,
                "polarity": o.prediction.polarity,
            }
            for span, o in answer.sentences
        ]
    return fields


def explanation_document(explanation: Explanation) -> dict[str, Any]:
    return {
        "method": explanation.method,
        "tokens": [{"text": t.text, "start": t.start, "end": t.end, "weight": t.weight} for t in explanation.tokens],
    }
