"""Every replica in step: reloads recorded in the log database's `rollouts` table, followed by all.

The replica that takes a reload (`POST /v1/admin/reload` or SIGHUP) loads the artifact, checks it
with a prediction, swaps it in and records a rollout row (version, model_dir or null for "each
replica's configured artifact", which replica asked). Every replica sharing the database reads the
newest row every `SENTIMENT_ROLLOUT_POLL_S` seconds; when its version differs from the one served,
the replica loads the row's artifact and swaps it in only if the version it loaded is the row's.
Otherwise (its copy of the artifact is not the same) it keeps serving what it has, logs an error,
reports it (`/readyz` check `rollout`, metric `sentiment_rollout_in_step` 0) and tries again with
backoff. A replica that starts later applies the newest row before it serves.

The swap is one reference (`MicroBatcher.predictor`): batches already running finish on the old
model and no request fails during a rollout.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select

from model import ArtifactError, Predictor
from model.errors import first_line
from service.errors import NotReady, ReloadFailed
from service.log import RolloutRow, query_in_thread
from service.schemas import ReloadResponse

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger("service.rollout")
MAX_RETRY_S = 60.0  # longest wait between two tries of a rollout this replica could not apply


def replica_name() -> str:
    """This process as the fleet sees it: host and pid (one per worker process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Rollout:
    id: int
    version: str
    model_dir: str | None
    requested_by: str | None
    created_at: datetime


def latest_rollout(engine: Engine) -> Rollout | None:
    """Return the newest rollout row, or None when no reload was ever recorded."""
    table = RolloutRow.__table__
    with engine.connect() as connection:
        row = connection.execute(select(table).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return Rollout(row.id, row.version, row.model_dir, row.requested_by, row.created_at)


def record_rollout(engine: Engine, *, version: str, model_dir: str | None, requested_by: str) -> int:
    """Insert a rollout row and return its id."""
    values = {
        "created_at": datetime.now(UTC),
        "version": version,
        "model_dir": model_dir,
        "requested_by": requested_by,
    }
    with engine.begin() as connection:
        result = connection.execute(insert(RolloutRow).returning(RolloutRow.id), [values])
        return int(result.scalar_one())


@dataclass
class RolloutState:
    """What this replica knows of the fleet's newest rollout (for /readyz and the metrics)."""

    seen_id: int | None = None  # newest rollout row this replica has acted on
    wanted: str | None = None  # the version that row names
    model_dir: str | None = None  # the artifact it names (None: the configured one)
    error: str | None = None  # why this replica does not serve `wanted`
    retry_at: float = 0.0  # monotonic time of the next try while `error` is set
    retry_s: float = 0.0
    poll_error: str | None = None  # the last failure to read the rollouts table

    def check(self, serving: str | None) -> dict[str, Any]:
        return {
            "id": self.seen_id,
            "version": self.wanted,
            "in_step": self.wanted is None or self.wanted == serving,
            "error": self.error,
            "poll_error": self.poll_error,
        }


async def _load_checked(runtime: Runtime, model_dir: str | None) -> Predictor:
    """Load an artifact and run one prediction with it, off the event loop."""
    candidate = await asyncio.to_thread(runtime.load_predictor, Path(model_dir) if model_dir else None)
    await asyncio.to_thread(candidate.predict, ["reload check: a short test sentence."])
    return candidate


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, looked up once (find_library runs ldconfig); None where libc is not glibc."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # musl, macOS: nothing to trim
        return None


def release_memory() -> None:
    """Collect the swapped-out model and hand freed heap back to the OS (glibc's malloc_trim).

    Without the trim, glibc keeps the pages a session build freed, and RSS climbs over reloads.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _swap(runtime: Runtime, candidate: Predictor) -> None:
    assert runtime.batcher is not None
    runtime.batcher.predictor = candidate  # one reference swap: batches already running keep the old one
    runtime.announce_model(candidate)
    release_memory()


async def reload(runtime: Runtime, model_dir: str | None = None) -> ReloadResponse:
    """Load the configured artifact (or `model_dir`), swap it in, and record a rollout for the fleet.

    A bad artifact raises ReloadFailed and leaves the old model serving (and records nothing).
    """
    if runtime.batcher is None:
        raise NotReady("the model is not loaded yet")
    async with runtime.reload_lock:
        previous = runtime.batcher.predictor
        try:
            candidate = await _load_checked(runtime, model_dir)
        except ArtifactError as exc:
            runtime.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(f"kept model {previous.version}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
            runtime.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(f"kept model {previous.version}: {type(exc).__name__}: {exc}") from None
        _swap(runtime, candidate)
        runtime.metrics.reloads.labels("ok").inc()
        rollout_id, rollout_error = await _publish(runtime, candidate.version, model_dir)
    return ReloadResponse(
        previous_version=previous.version,
        version=candidate.version,
        changed=previous.version != candidate.version,
        rollout_id=rollout_id,
        rollout_error=rollout_error,
    )


async def _publish(runtime: Runtime, version: str, model_dir: str | None) -> tuple[int | None, str | None]:
    """Record the rollout; a database fault keeps the local reload and says so in the answer."""
    if runtime.engine is None:
        return None, "the log database is not open"
    if model_dir is not None:
        model_dir = str(Path(model_dir).resolve())  # other replicas may run in another folder
    try:
        rollout_id = await asyncio.to_thread(
            record_rollout, runtime.engine, version=version, model_dir=model_dir, requested_by=replica_name()
        )
    except Exception as exc:  # noqa: BLE001 - the reload stands; the other replicas are not told
        message = f"this replica serves {version}, but the rollout could not be recorded: {type(exc).__name__}"
        log.error("%s: %s", message, exc)
        return None, message
    state = runtime.rollout
    state.seen_id, state.wanted, state.model_dir, state.error = rollout_id, version, model_dir, None
    _report(runtime)
    log.info("rollout %d: version %s recorded for every replica", rollout_id, version)
    return rollout_id, None


def _report(runtime: Runtime) -> None:
    serving = runtime.batcher.predictor.version if runtime.batcher is not None else None
    runtime.metrics.rollout_in_step.set(1 if runtime.rollout.check(serving)["in_step"] else 0)


def _failed(runtime: Runtime, row: Rollout, message: str) -> None:
    state = runtime.rollout
    state.error = message
    state.retry_s = min(MAX_RETRY_S, max(runtime.settings.rollout_poll_s, state.retry_s * 2))
    state.retry_at = time.monotonic() + state.retry_s
    log.error("rollout %d: %s; still serving the previous model", row.id, message)


async def initial_model(runtime: Runtime, first: Predictor) -> Predictor:
    """The model a starting replica serves: `first` (its configured artifact) or the newest rollout's."""
    if runtime.settings.rollout_poll_s == 0 or runtime.engine is None:
        return first
    state = runtime.rollout
    try:
        row = await asyncio.to_thread(latest_rollout, runtime.engine)
    except Exception as exc:  # noqa: BLE001 - serve the configured model; the poller tries again
        state.poll_error = first_line(exc, 200)
        log.warning("cannot read the rollouts table at start: %s", exc)
        return first
    if row is None:
        return first
    state.seen_id, state.wanted, state.model_dir = row.id, row.version, row.model_dir
    if row.version == first.version:
        return first
    if row.model_dir is None:
        _failed(runtime, row, f"the configured artifact is version {first.version}, rollout wants {row.version}")
        return first
    try:
        candidate = await _load_checked(runtime, row.model_dir)
    except Exception as exc:  # noqa: BLE001 - a rollout this replica cannot load leaves the configured model
        _failed(runtime, row, f"cannot load {row.model_dir}: {type(exc).__name__}: {exc}")
        return first
    if candidate.version != row.version:
        _failed(runtime, row, f"{row.model_dir} holds version {candidate.version}, rollout wants {row.version}")
        return first
    log.info("rollout %d: serving version %s from %s", row.id, row.version, row.model_dir)
    return candidate


async def apply(runtime: Runtime, row: Rollout) -> None:
    """Serve the version a rollout row names, if this replica's copy of its artifact has it."""
    state = runtime.rollout
    async with runtime.reload_lock:
        assert runtime.batcher is not None
        if state.seen_id is not None and row.id < state.seen_id:
            return  # a newer row was applied while this one waited for the lock
        if row.id != state.seen_id:  # a new rollout: forget the last one's error and backoff
            state.seen_id, state.wanted, state.model_dir = row.id, row.version, row.model_dir
            state.error, state.retry_s = None, 0.0
        previous = runtime.batcher.predictor
        if previous.version == row.version:
            state.error = None
            return
        if state.error is not None and time.monotonic() < state.retry_at:
            return
        try:
            candidate = await _load_checked(runtime, row.model_dir)
        except Exception as exc:  # noqa: BLE001 - keep serving; report and try again later
            runtime.metrics.reloads.labels("failed").inc()
            _failed(runtime, row, f"cannot load {row.model_dir or 'the configured artifact'}: {exc}")
            return
        if candidate.version != row.version:
            runtime.metrics.reloads.labels("failed").inc()
            where = row.model_dir or "the configured artifact"
            _failed(runtime, row, f"{where} holds version {candidate.version}, rollout wants {row.version}")
            return
        _swap(runtime, candidate)
        state.error, state.retry_s = None, 0.0
        runtime.metrics.reloads.labels("ok").inc()
        log.info("rollout %d: %s -> %s (requested by %s)", row.id, previous.version, row.version, row.requested_by)


async def follow_rollouts(runtime: Runtime) -> None:
    """Poll the newest rollout row and apply it, until cancelled (one task per replica)."""
    interval = runtime.settings.rollout_poll_s
    await asyncio.sleep(random.uniform(0, interval))  # replicas started together do not poll together
    while True:
        engine = runtime.engine
        if engine is not None:
            try:
                row = await query_in_thread(latest_rollout, engine)
            except Exception as exc:  # noqa: BLE001 - a database fault: keep serving, try next time
                if runtime.rollout.poll_error is None:
                    log.warning("cannot read the rollouts table: %s", exc)
                runtime.rollout.poll_error = first_line(exc, 200)
                runtime.metrics.rollout_poll_failures.inc()
            else:
                runtime.rollout.poll_error = None
                if row is not None:
                    await apply(runtime, row)
                _report(runtime)
        await asyncio.sleep(interval)
