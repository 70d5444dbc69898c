"""One recorder for every route: builds a request's log rows and hands them to the writer.

v1 single, v1 batch, the fast path and OIP `infer` all record through `RequestRecorder.record`, so a
row's columns are written out once, here.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from service.errors import LogUnavailable, ServiceError

if TYPE_CHECKING:
    from service.batcher import Outcome
    from service.log.writer import RequestLogWriter


@dataclass(frozen=True)
class RequestFacts:
    """What every log row of one request shares."""

    request_id: str
    endpoint: str  # sentiment, sentiment/batch, v2/infer
    client: str | None  # the key's id, never the key
    model: str  # the served model's name (each item may name the one that read it instead)
    started: float  # time.perf_counter() when the request arrived: latency is measured from it
    explain: bool = False
    sentences: bool = False
    role: str = "primary"  # primary or canary: which of the model's versions answered (shadow rows: ShadowLane)


class Item(NamedTuple):
    """One text of a request: the text, its outcome (None when refused), why it was refused, and where a
    request routes its texts one by one (by language), the model that read it and the language it was read as."""

    text: str
    outcome: Outcome | None
    problem: ServiceError | None = None
    model: str | None = None  # None: the request's (RequestFacts.model)
    language: str | None = None
    role: str | None = None  # None: the request's (RequestFacts.role); a batch may mix a canary and primaries


class RequestRecorder:
    def __init__(
        self,
        *,
        log_text: Literal["full", "hash", "none"],
        log_mode: Literal["async", "durable"],
        durable_timeout_s: float,
    ) -> None:
        self.log_text = log_text
        self.log_mode = log_mode
        self.durable_timeout_s = durable_timeout_s
        self.writer: RequestLogWriter | None = None  # set once the lifespan has started it
        # Called with every request once its rows are handed over (the shadow lane takes its texts there).
        self.after: Callable[[RequestFacts, Sequence[Item]], None] | None = None

    async def record(self, facts: RequestFacts, items: Sequence[Item]) -> None:
        """Log one row per item (in order: `item_index`); in durable mode return once they are committed."""
        latency_s = time.perf_counter() - facts.started
        rows = [self.row(facts, i, item, latency_s) for i, item in enumerate(items)]
        await self._hand(rows)
        if self.after is not None:
            self.after(facts, items)

    def row(
        self,
        facts: RequestFacts,
        index: int,
        item: Item,
        latency_s: float,
    ) -> dict[str, Any]:
        text, outcome, problem = item.text, item.outcome, item.problem
        mode = self.log_text
        row: dict[str, Any] = {
            "created_at": datetime.now(UTC),
            "request_id": facts.request_id,
            "endpoint": facts.endpoint,
            "item_index": index,
            "client_key_id": facts.client,
            "text": text if mode == "full" else None,
            "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            if mode != "none"
            else None,
            "text_chars": len(text),
            "label": None,
            "score": None,
            "model_version": None,
            "batch_size": None,
            "queue_wait_ms": None,
            "latency_ms": latency_s * 1000,
            "status": 200 if problem is None else problem.status,
            "error_code": None if problem is None else problem.code,
            "explain": facts.explain,
            "sentences": facts.sentences,
            "tokens": None,
            "unknown_tokens": None,
            "model": item.model or facts.model,
            "language": item.language,
            "role": item.role or facts.role,
        }
        if outcome is not None:
            row.update(
                label=outcome.prediction.label,
                score=outcome.prediction.score,
                model_version=outcome.model_version,
                batch_size=outcome.batch_size,
                queue_wait_ms=outcome.queue_wait_s * 1000,
                tokens=outcome.prediction.tokens_total,
                unknown_tokens=outcome.prediction.unknown_tokens,
            )
        return row

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue rows without waiting for their commit, whatever the log mode (shadow rows: nobody waits on them)."""
        writer = self.writer
        if writer is not None:
            for row in rows:
                writer.add(row)

    async def _hand(self, rows: list[dict[str, Any]]) -> None:
        writer = self.writer
        if writer is None:
            return
        if self.log_mode == "async":
            for row in rows:
                writer.add(row)
            return
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[bool]] = []
        for row in rows:
            future: asyncio.Future[bool] = loop.create_future()
            waits.append(future)

            def done(ok: bool, future: asyncio.Future[bool] = future) -> None:
                loop.call_soon_threadsafe(_resolve, future, ok)

            writer.add(row, on_commit=done)
        try:
            results = await asyncio.wait_for(asyncio.gather(*waits), self.durable_timeout_s)
        except TimeoutError:
            raise LogUnavailable("the request log did not commit in time; the prediction was not recorded") from None
        if not all(results):
            raise LogUnavailable("the request log could not record this prediction")


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():  # the request may have timed out already
        future.set_result(ok)
