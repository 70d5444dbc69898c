"""The shadow lane: candidates score texts the primary already answered, only while the primary is idle.

A text joins the lane when its request is recorded (after its answer is computed); the lane's worker
waits a moment so that the answer goes out first, then runs only while `is_idle` holds: every
model's batcher idle and none busy in the last QUIET_S (`service.candidate.candidates`), since under
load the event loop parsing requests is primary work too and batches follow each other closely. It
runs on a thread of its own, a few texts per pass, so that it looks again soon. That thread keeps
the normal CPU priority on purpose: at nice 19 on a loaded host the primary's p99 was worse, as the
starved thread held the GIL the event loop waited for (priority inversion; BENCHMARKS.md).

The lane holds at most `max_queue` texts: when the primaries keep the CPU busy it cannot drain, and
what does not fit is dropped and counted (`sentiment_shadow_texts_dropped{reason="queue_full"}`),
never queued without bound. The primary's answer never waits on the lane: nothing on the request
path awaits it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from model import Prediction, Predictor
from service.batcher import Outcome
from service.log.recorder import RequestFacts

log = logging.getLogger("service.shadow")
SETTLE_S = 0.002  # after new texts arrive, let the event loop send the answers first
YIELD_S = 0.005  # how often a waiting lane looks again whether the primaries are idle
PASS_TEXTS = 8  # most texts in one shadow pass: short passes, so the lane looks again soon


@dataclass
class ShadowJob:
    facts: RequestFacts  # the primary request's (its rows are written with role "shadow")
    predictor: Predictor  # the candidate when the text was offered
    items: list[tuple[int, str, str | None]]  # (item_index, text, language) of the texts the primary answered
    offered: float  # time.monotonic()


class ShadowLane:
    """A bounded queue of shadow texts and the one low-priority worker that scores them."""

    def __init__(
        self,
        *,
        max_queue: int,
        max_batch: int,
        is_idle: Callable[[], bool],  # every model's batcher is idle
        build_row: Callable[[RequestFacts, int, str, str | None, Outcome, float], dict[str, Any]],
        write: Callable[[Sequence[dict[str, Any]]], None],
        on_scored: Callable[[str, int], None] = lambda model, n: None,
        on_dropped: Callable[[str, int], None] = lambda reason, n: None,
    ) -> None:
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._is_idle = is_idle
        self._build_row = build_row
        self._write = write
        self._on_scored = on_scored
        self._on_dropped = on_dropped
        self._queue: deque[ShadowJob] = deque()
        self.depth = 0  # texts waiting
        self._wakeup = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping = False
        self._wakeup = asyncio.Event()  # the running loop's: an app's lifespan may run again on another loop
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shadow")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="shadow-lane")

    async def stop(self) -> None:
        """Stop the worker; texts still waiting are dropped (counted `shutdown`): nobody waits on them."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self.depth:
            self._on_dropped("shutdown", self.depth)
        self._queue.clear()
        self.depth = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def offer(self, facts: RequestFacts, predictor: Predictor, items: list[tuple[int, str, str | None]]) -> None:
        """Queue texts for the candidate `predictor`, or drop and count them when the lane is full."""
        if self._stopping or self._task is None:
            return
        if self.depth + len(items) > self.max_queue:
            self._on_dropped("queue_full", len(items))
            return
        self._queue.append(ShadowJob(facts, predictor, items, time.monotonic()))
        self.depth += len(items)
        self._wakeup.set()

    def _take(self, most: int) -> list[ShadowJob]:
        """Whole jobs for one pass: one candidate's, up to `most` texts (at least one job)."""
        first = self._queue.popleft()
        jobs, texts = [first], len(first.items)
        while self._queue and self._queue[0].predictor is first.predictor:
            if texts + len(self._queue[0].items) > most:
                break
            job = self._queue.popleft()
            jobs.append(job)
            texts += len(job.items)
        self.depth -= texts
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await asyncio.sleep(SETTLE_S)
            while not self._is_idle() and not self._stopping:
                await asyncio.sleep(YIELD_S)  # primary work first, always
            if self._stopping:
                break
            jobs = self._take(min(self.max_batch, PASS_TEXTS))
            predictor = jobs[0].predictor
            texts = [text for job in jobs for _, text, _ in job.items]
            started = time.monotonic()
            try:
                predictions: list[Prediction] = await loop.run_in_executor(self._executor, predictor.predict, texts)
                if len(predictions) != len(texts):
                    raise RuntimeError(f"the candidate returned {len(predictions)} results for {len(texts)} texts")
            except Exception as exc:  # noqa: BLE001 - a failing candidate never stops the lane
                log.warning("shadow candidate %s failed on %d texts: %s", predictor.version, len(texts), exc)
                self._on_dropped("failed", len(texts))
                continue
            elapsed = time.monotonic() - started
            rows, at = [], 0
            for job in jobs:
                facts = replace(job.facts, role="shadow")
                for index, text, language in job.items:
                    outcome = Outcome(predictions[at], predictor.version, len(texts), started - job.offered)
                    rows.append(self._build_row(facts, index, text, language, outcome, elapsed))
                    at += 1
                self._on_scored(job.facts.model, len(job.items))
            self._write(rows)
