"""The micro-batcher: one inference worker, one bounded queue, one future per text.

When the worker is idle a lone text runs at once; while a batch runs, arrivals gather and the
next batch takes everything waiting (up to `max_batch_size`). The model runs on a dedicated
thread, so the event loop keeps accepting requests while it computes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from model import Prediction, Predictor
from service.errors import InferenceFailed, Overloaded


@dataclass(frozen=True)
class Outcome:
    prediction: Prediction
    model_version: str
    batch_size: int
    queue_wait_s: float


@dataclass
class _Item:
    text: str
    future: asyncio.Future[Outcome]
    enqueued: float  # time.monotonic()


class MicroBatcher:
    def __init__(
        self,
        predictor: Predictor,
        *,
        max_batch_size: int,
        max_queue: int,
        on_batch: Callable[[int, float, float], None] | None = None,  # (size, seconds, max queue wait)
    ) -> None:
        self.predictor = predictor  # swapped whole by reload; a running batch keeps its own reference
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._seconds_per_text = 0.002  # running estimate, for Retry-After
        self.batches_run = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def depth(self) -> int:
        return len(self._queue)

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
        return max(1, math.ceil((len(self._queue) + extra) * self._seconds_per_text))

    def submit(self, texts: Sequence[str]) -> list[asyncio.Future[Outcome]]:
        """Queue texts; raise Overloaded (503 + Retry-After) when they do not fit."""
        if self._stopping:
            raise Overloaded("the service is shutting down", headers={"Retry-After": "1"})
        if len(self._queue) + len(texts) > self.max_queue:
            seconds = self.retry_after(len(texts))
            raise Overloaded(
                f"queue full ({len(self._queue)} texts waiting); retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
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
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]
            batch = [item for item in batch if not item.future.done()]  # the client gave up
            if not batch:
                continue
            predictor = self.predictor
            started = time.monotonic()
            try:
                predictions = await loop.run_in_executor(self._executor, predictor.predict, [i.text for i in batch])
                if len(predictions) != len(batch):
                    raise RuntimeError(f"model returned {len(predictions)} results for {len(batch)} texts")
            except Exception as exc:  # noqa: BLE001 - a failed batch fails its requests, never the worker
                error = InferenceFailed(f"inference failed for this batch: {type(exc).__name__}: {exc}")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            elapsed = time.monotonic() - started
            self._seconds_per_text = 0.8 * self._seconds_per_text + 0.2 * (elapsed / len(batch))
            self.batches_run += 1
            waits = [started - item.enqueued for item in batch]
            if self._on_batch is not None:
                self._on_batch(len(batch), elapsed, max(waits))
            for item, prediction, wait in zip(batch, predictions, waits, strict=True):
                if not item.future.done():
                    item.future.set_result(Outcome(prediction, predictor.version, len(batch), wait))
