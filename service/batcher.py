"""The micro-batcher: one inference worker, one bounded queue, one future per text.

When the worker is idle a lone text runs at once; while a batch runs, arrivals gather and the
next batch takes everything waiting (up to `max_batch_size`). The model runs on a dedicated
thread, so the event loop keeps accepting requests while it computes.

An explanation (occlusion, model/explain.py) is a job of many rows: the text, then the text
without each of its tokens. Every forward pass carries the plain texts waiting plus the next
`explain_pass_tokens` tokens' worth of explanation rows, so a long explanation runs over several
passes and a plain prediction waits behind at most one such chunk, never a whole explanation.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from model import Explanation, Prediction, Predictor
from model.explain import OcclusionPlan
from service.errors import InferenceFailed, Overloaded, TooLongToExplain


@dataclass(frozen=True)
class Outcome:
    prediction: Prediction
    model_version: str
    batch_size: int  # rows in the forward pass (a pass that also carries explanation rows counts them)
    queue_wait_s: float
    explanation: Explanation | None = None
    precision: str = "fp32"  # the arithmetic of the forward pass that answered (Predictor.precision)


@dataclass
class _Item:
    text: str
    future: asyncio.Future[Outcome]
    enqueued: float  # time.monotonic()


@dataclass(eq=False)
class _Job:
    """One explanation; its state is touched only by the inference thread while a pass runs."""

    text: str
    future: asyncio.Future[Outcome]
    enqueued: float  # time.monotonic()
    plan: OcclusionPlan | None = None
    probabilities: np.ndarray | None = None  # (rows, labels + 1) Predictor.scores, filled pass by pass
    done: int = 0  # rows computed so far
    first_pass: float | None = None  # time.monotonic() of its first rows
    error: Exception | None = None
    explanation: Explanation | None = None
    chunks: list[tuple[int, int]] = field(default_factory=list)  # rows [a, b) of the pass running


class MicroBatcher:
    def __init__(
        self,
        predictor: Predictor,
        *,
        max_batch_size: int,
        max_queue: int,
        on_batch: Callable[[int, float, float], None] | None = None,  # (size, seconds, max queue wait)
        max_explain_tokens: int = 300,
        explain_pass_tokens: int = 4096,
    ) -> None:
        self.predictor = predictor  # swapped whole by reload; a running batch keeps its own reference
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self._on_batch = on_batch
        self.max_explain_tokens = max_explain_tokens
        self.explain_pass_tokens = explain_pass_tokens
        self._queue: deque[_Item] = deque()
        self._jobs: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._seconds_per_text = 0.002  # running estimate, for Retry-After
        self._busy = False  # a forward pass is running
        self.last_pass_end = 0.0  # time.monotonic() when the last forward pass ended
        self.batches_run = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def depth(self) -> int:
        return len(self._queue) + len(self._jobs)

    @property
    def idle(self) -> bool:
        """Nothing waiting and no forward pass running (the shadow lane runs only then)."""
        return not self._busy and not self._queue and not self._jobs

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Finish every queued text, then stop the worker."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    def retry_after(self, extra: int = 0) -> int:
        """Seconds until the queue (plus `extra` texts) would have drained, at least 1."""
        return max(1, math.ceil((self.depth + extra) * self._seconds_per_text))

    def _check_room(self, n: int) -> None:
        if self._stopping:
            raise Overloaded("the service is shutting down", headers={"Retry-After": "1"})
        if self.depth + n > self.max_queue:
            seconds = self.retry_after(n)
            raise Overloaded(
                f"queue full ({self.depth} texts waiting); retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def submit_explain(self, texts: Sequence[str]) -> list[asyncio.Future[Outcome]]:
        """Queue explanations (each Outcome carries one); a text the model reads more than
        `max_explain_tokens` of fails with TooLongToExplain (413)."""
        self._check_room(len(texts))
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        jobs = [_Job(text, loop.create_future(), now) for text in texts]
        self._jobs.extend(jobs)
        self._wakeup.set()
        return [job.future for job in jobs]

    def submit(self, texts: Sequence[str]) -> list[asyncio.Future[Outcome]]:
        """Queue texts; raise Overloaded (503 + Retry-After) when they do not fit."""
        self._check_room(len(texts))
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures = []
        for text in texts:
            item = _Item(text, loop.create_future(), now)
            self._queue.append(item)
            futures.append(item.future)
        self._wakeup.set()
        return futures

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._jobs and any(job.future.done() for job in self._jobs):
                self._jobs = deque(job for job in self._jobs if not job.future.done())  # clients that gave up
            if not self._queue and not self._jobs:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]
            batch = [item for item in batch if not item.future.done()]  # the client gave up
            jobs = list(self._jobs)
            if not batch and not jobs:
                continue
            predictor = self.predictor
            started = time.monotonic()
            self._busy = True
            try:
                predictions, rows = await loop.run_in_executor(
                    self._executor, self._pass, predictor, [i.text for i in batch], jobs, started
                )
                self._busy = False
                self.last_pass_end = time.monotonic()
                if len(predictions) != len(batch):
                    raise RuntimeError(f"model returned {len(predictions)} results for {len(batch)} texts")
            except Exception as exc:  # noqa: BLE001 - a failed batch fails its requests, never the worker
                self._busy = False
                error = InferenceFailed(f"inference failed for this batch: {type(exc).__name__}: {exc}")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                for job in jobs:
                    if job.chunks:  # its rows were in the failed pass
                        job.error = error
                self._settle(jobs, 0)
                continue
            size = len(batch) + rows
            elapsed = time.monotonic() - started
            self._seconds_per_text = 0.8 * self._seconds_per_text + 0.2 * (elapsed / max(1, size))
            self.batches_run += 1
            waits = [started - item.enqueued for item in batch]
            if self._on_batch is not None:
                self._on_batch(size, elapsed, max(waits, default=0.0))
            for item, prediction, wait in zip(batch, predictions, waits, strict=True):
                if not item.future.done():
                    item.future.set_result(
                        Outcome(prediction, predictor.version, size, wait, precision=predictor.precision)
                    )
            self._settle(jobs, size)

    def _settle(self, jobs: list[_Job], size: int) -> None:
        """Resolve the explanations that finished or failed in the last pass."""
        finished = set()
        for job in jobs:
            job.chunks = []
            if job.error is None and job.explanation is None:
                continue
            finished.add(job)
            if job.future.done():
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
            elif job.explanation is not None and job.plan is not None:
                wait = (job.first_pass or job.enqueued) - job.enqueued
                outcome = Outcome(
                    job.explanation.prediction,
                    job.plan.predictor.version,
                    size,
                    wait,
                    job.explanation,
                    precision=job.plan.predictor.precision,
                )
                job.future.set_result(outcome)
        if finished:
            self._jobs = deque(job for job in self._jobs if job not in finished)

    def _pass(
        self, predictor: Predictor, texts: list[str], jobs: list[_Job], started: float
    ) -> tuple[list[Prediction], int]:
        """One forward pass (inference thread): the plain texts, then explanation rows up to the budget."""
        if not jobs:
            return predictor.predict(texts), 0  # no explanation waiting: exactly the plain path
        encoded = [predictor.encode(t) for t in texts]
        rows = [e.ids for e in encoded]
        budget = self.explain_pass_tokens
        own: list[tuple[_Job, int, int]] = []  # rows of jobs planned on another (reloaded-away) model
        for job in jobs:
            if budget <= 0:
                break
            if job.plan is None:
                try:
                    job.plan = OcclusionPlan(predictor, job.text)
                except Exception as exc:  # noqa: BLE001 - one text's failure is its own
                    job.error = InferenceFailed(f"explanation failed: {type(exc).__name__}: {exc}")
                    continue
                if len(job.plan.ids) > self.max_explain_tokens:
                    job.error = TooLongToExplain(
                        f"the model reads {len(job.plan.ids)} tokens of this text; explanations are limited to "
                        f"{self.max_explain_tokens} (SENTIMENT_MAX_EXPLAIN_TOKENS)"
                    )
                    continue
                job.probabilities = np.empty((len(job.plan.rows), len(predictor.labels) + 1))
                job.first_pass = started
            plan_rows = job.plan.rows
            end = job.done
            while end < len(plan_rows) and (end == job.done or budget - len(plan_rows[end]) >= 0):
                budget -= max(1, len(plan_rows[end]))
                end += 1
            job.chunks = [(job.done, end)]
            if job.plan.predictor is predictor:
                rows += plan_rows[job.done : end]
            else:
                own.append((job, job.done, end))
        probabilities = predictor.scores(rows)
        at = len(texts)
        for job in jobs:
            if not job.chunks or job.plan is None or job.probabilities is None:
                continue
            a, b = job.chunks[0]
            if job.plan.predictor is predictor:
                job.probabilities[a:b] = probabilities[at : at + b - a]
                at += b - a
            else:
                job.probabilities[a:b] = job.plan.predictor.scores(job.plan.rows[a:b])
            job.done = b
            if job.done == len(job.plan.rows):
                job.explanation = job.plan.finish(job.probabilities)
        return predictor.predictions_from(encoded, probabilities[: len(texts)]), len(rows) - len(texts) + sum(
            b - a for _, a, b in own
        )
