"""The shadow lane: candidates score texts the primary already answered, only while the primary is idle.

A text joins the lane when its request is recorded (after its answer is computed); the lane's worker
waits a moment so that the answer goes out first, then runs only while every model's batcher is idle,
on its own thread at the lowest CPU priority (nice 19) so that any primary pass that starts meanwhile
takes the cores first. The lane holds at most `max_queue` texts: when the primaries keep the CPU busy
the lane cannot drain, and what does not fit is dropped and counted
(`sentiment_shadow_texts_dropped{reason="queue_full"}`), never queued without bound. The primary's
answer never waits on the lane: nothing on the request path awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
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


@dataclass
class ShadowJob:
    facts: RequestFacts  # the primary request's (its rows are written with role "shadow")
    predictor: Predictor  # the candidate when the text was offered
    items: list[tuple[int, str]]  # (item_index, text) of the texts the primary answered
    offered: float  # time.monotonic()


def _lowest_priority() -> None:
    """Run this thread (and the runtime's threads it starts) at nice 19, where the OS allows it."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: priority is per process there
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class ShadowLane:
    """A bounded queue of shadow texts and the one low-priority worker that scores them."""

    def __init__(
        self,
        *,
        max_queue: int,
        max_batch: int,
        is_idle: Callable[[], bool],  # every model's batcher is idle
        build_row: Callable[[RequestFacts, int, str, Outcome, float], dict[str, Any]],
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
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shadow", initializer=_lowest_priority)
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

    def offer(self, facts: RequestFacts, predictor: Predictor, items: list[tuple[int, str]]) -> None:
        """Queue texts for the candidate `predictor`, or drop and count them when the lane is full."""
        if self._stopping or self._task is None:
            return
        if self.depth + len(items) > self.max_queue:
            self._on_dropped("queue_full", len(items))
            return
        self._queue.append(ShadowJob(facts, predictor, items, time.monotonic()))
        self.depth += len(items)
        self._wakeup.set()

    def _take(self) -> list[ShadowJob]:
        """Whole jobs for one pass: one candidate's, up to `max_batch` texts (at least one job)."""
        first = self._queue.popleft()
        jobs, texts = [first], len(first.items)
        while self._queue and self._queue[0].predictor is first.predictor:
            if texts + len(self._queue[0].items) > self.max_batch:
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
            jobs = self._take()
            predictor = jobs[0].predictor
            texts = [text for job in jobs for _, text in job.items]
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
                for index, text in job.items:
                    outcome = Outcome(predictions[at], predictor.version, len(texts), started - job.offered)
                    rows.append(self._build_row(facts, index, text, outcome, elapsed))
                    at += 1
                self._on_scored(job.facts.model, len(job.items))
            self._write(rows)
