"""Every replica in step: reloads recorded in the log database's `rollouts` table, followed by all.

Rollouts are per model (SENTIMENT_MODELS): each row names its model, and each model follows only
its own newest row (a row without a name, written before named models, is the default model's).
The replica that takes a reload (`POST /v1/admin/reload` or SIGHUP) loads the artifact, checks it
with a prediction, swaps it in and records a rollout row (model, version, model_dir or null for
"each replica's configured artifact", which replica asked). Every replica sharing the database reads
each model's newest row every `SENTIMENT_ROLLOUT_POLL_S` seconds; when its version differs from the one served,
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
from typing import TYPE_CHECKING

from sqlalchemy import Engine, insert, or_, select

from model import ArtifactError, Predictor
from model.errors import first_line
from service.errors import ReloadFailed
from service.log import RolloutRow, query_in_thread
from service.schemas import ReloadResponse

if TYPE_CHECKING:
    from service.served import ServedModel
    from service.state import ServiceState

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


def latest_rollout(engine: Engine, model: str, *, default: bool = True) -> Rollout | None:
    """Return the model's newest rollout row, or None when no reload of it was ever recorded.

    `default`: the model is the default one, whose rollouts include rows without a name (before 0006).
    """
    table = RolloutRow.__table__
    mine = or_(table.c.model == model, table.c.model.is_(None)) if default else table.c.model == model
    with engine.connect() as connection:
        row = connection.execute(select(table).where(mine).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return Rollout(row.id, row.version, row.model_dir, row.requested_by, row.created_at)


def record_rollout(engine: Engine, *, model: str, version: str, model_dir: str | None, requested_by: str) -> int:
    """Insert a rollout row and return its id."""
    values = {
        "created_at": datetime.now(UTC),
        "model": model,
        "version": version,
        "model_dir": model_dir,
        "requested_by": requested_by,
    }
    with engine.begin() as connection:
        result = connection.execute(insert(RolloutRow).returning(RolloutRow.id), [values])
        return int(result.scalar_one())


async def _load_checked(service: ServiceState, served: ServedModel, model_dir: str | None) -> Predictor:
    """Load an artifact (None: the model's configured one) and run one prediction with it, off the event loop."""
    return await load_checked(service, Path(model_dir) if model_dir else served.model_dir)


async def load_checked(service: ServiceState, path: Path | None) -> Predictor:
    """Load the artifact at `path` (None: the shipped model) as the service serves, and run one prediction with
    it, off the event loop: the one check before a reload, a rollout or a candidate serves anything."""
    predictor = await asyncio.to_thread(service.load_predictor, path)
    await asyncio.to_thread(predictor.predict, ["load check: a short test sentence."])
    return predictor


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


def _swap(service: ServiceState, served: ServedModel, candidate: Predictor) -> None:
    served.batcher.predictor = candidate  # one reference swap: batches already running keep the old one
    service.announce_model(served)
    release_memory()


async def reload(
    service: ServiceState, model_dir: str | None = None, model: str | None = None, *, version: str | None = None
) -> ReloadResponse:
    """Load a model's configured artifact (or `model_dir`), swap it in, and record a rollout for the fleet.

    `model`: the name (None: the default model). `version`: the version the artifact must hold (a promoted
    candidate's: its folder may have been rewritten since). A bad artifact raises ReloadFailed and leaves
    the old model serving (and records nothing).
    """
    served = service.model(model)
    async with served.reload_lock:
        previous = served.predictor
        try:
            candidate = await _load_checked(service, served, model_dir)
        except ArtifactError as exc:
            service.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(f"kept model {previous.version}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
            service.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(f"kept model {previous.version}: {type(exc).__name__}: {exc}") from None
        if version is not None and candidate.version != version:
            service.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(
                f"kept model {previous.version}: {model_dir} holds version {candidate.version} now, not {version}"
            )
        _swap(service, served, candidate)
        service.metrics.reloads.labels("ok").inc()
        rollout_id, rollout_error = await _publish(service, served, candidate.version, model_dir)
    return ReloadResponse(
        model=served.name,
        previous_version=previous.version,
        version=candidate.version,
        changed=previous.version != candidate.version,
        rollout_id=rollout_id,
        rollout_error=rollout_error,
    )


async def _publish(
    service: ServiceState, served: ServedModel, version: str, model_dir: str | None
) -> tuple[int | None, str | None]:
    """Record the rollout; a database fault keeps the local reload and says so in the answer."""
    if service.engine is None:
        return None, "the log database is not open"
    if model_dir is not None:
        model_dir = str(Path(model_dir).resolve())  # other replicas may run in another folder
    try:
        rollout_id = await asyncio.to_thread(
            record_rollout,
            service.engine,
            model=served.name,
            version=version,
            model_dir=model_dir,
            requested_by=replica_name(),
        )
    except Exception as exc:  # noqa: BLE001 - the reload stands; the other replicas are not told
        message = f"this replica serves {version}, but the rollout could not be recorded: {type(exc).__name__}"
        log.error("%s: %s", message, exc)
        return None, message
    state = served.rollout
    state.seen_id, state.wanted, state.model_dir, state.error = rollout_id, version, model_dir, None
    _report(service)
    log.info("rollout %d: model %s version %s recorded for every replica", rollout_id, served.name, version)
    return rollout_id, None


def _report(service: ServiceState) -> None:
    """The in-step metric: 1 when every model serves its newest rollout's version."""
    in_step = all(m.rollout.check(m.predictor.version)["in_step"] for m in service.models.values())
    service.metrics.rollout_in_step.set(1 if in_step else 0)


def _failed(service: ServiceState, served: ServedModel, row: Rollout, message: str) -> None:
    state = served.rollout
    state.error = message
    state.retry_s = min(MAX_RETRY_S, max(service.settings.rollout_poll_s, state.retry_s * 2))
    state.retry_at = time.monotonic() + state.retry_s
    log.error("rollout %d of %s: %s; still serving the previous model", row.id, served.name, message)


async def initial_model(service: ServiceState, served: ServedModel, first: Predictor) -> Predictor:
    """The model a starting replica serves: `first` (its configured artifact) or the newest rollout's."""
    if service.settings.rollout_poll_s == 0 or service.engine is None:
        return first
    state = served.rollout
    try:
        row = await asyncio.to_thread(_latest, service, served)
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
        message = f"the configured artifact is version {first.version}, rollout wants {row.version}"
        _failed(service, served, row, message)
        return first
    try:
        candidate = await _load_checked(service, served, row.model_dir)
    except Exception as exc:  # noqa: BLE001 - a rollout this replica cannot load leaves the configured model
        _failed(service, served, row, f"cannot load {row.model_dir}: {type(exc).__name__}: {exc}")
        return first
    if candidate.version != row.version:
        message = f"{row.model_dir} holds version {candidate.version}, rollout wants {row.version}"
        _failed(service, served, row, message)
        return first
    log.info("rollout %d: %s serves version %s from %s", row.id, served.name, row.version, row.model_dir)
    return candidate


def _latest(service: ServiceState, served: ServedModel) -> Rollout | None:
    assert service.engine is not None
    return latest_rollout(service.engine, served.name, default=served.name == service.default_model)


async def apply(service: ServiceState, served: ServedModel, row: Rollout) -> None:
    """Serve the version a rollout row names, if this replica's copy of its artifact has it."""
    state = served.rollout
    async with served.reload_lock:
        if state.seen_id is not None and row.id < state.seen_id:
            return  # a newer row was applied while this one waited for the lock
        if row.id != state.seen_id:  # a new rollout: forget the last one's error and backoff
            state.seen_id, state.wanted, state.model_dir = row.id, row.version, row.model_dir
            state.error, state.retry_s = None, 0.0
        previous = served.predictor
        if previous.version == row.version:
            state.error = None
            return
        if state.error is not None and time.monotonic() < state.retry_at:
            return
        try:
            candidate = await _load_checked(service, served, row.model_dir)
        except Exception as exc:  # noqa: BLE001 - keep serving; report and try again later
            service.metrics.reloads.labels("failed").inc()
            _failed(service, served, row, f"cannot load {row.model_dir or 'the configured artifact'}: {exc}")
            return
        if candidate.version != row.version:
            service.metrics.reloads.labels("failed").inc()
            where = row.model_dir or "the configured artifact"
            _failed(service, served, row, f"{where} holds version {candidate.version}, rollout wants {row.version}")
            return
        _swap(service, served, candidate)
        state.error, state.retry_s = None, 0.0
        service.metrics.reloads.labels("ok").inc()
        log.info(
            "rollout %d: %s %s -> %s (requested by %s)",
            row.id,
            served.name,
            previous.version,
            row.version,
            row.requested_by,
        )


async def follow_rollouts(service: ServiceState) -> None:
    """Poll each model's newest rollout row and apply it, until cancelled (one task per replica)."""
    interval = service.settings.rollout_poll_s
    await asyncio.sleep(random.uniform(0, interval))  # replicas started together do not poll together
    while True:
        for served in list(service.models.values()) if service.engine is not None else []:
            try:
                row = await query_in_thread(_latest, service, served)
            except Exception as exc:  # noqa: BLE001 - a database fault: keep serving, try next time
                if served.rollout.poll_error is None:
                    log.warning("cannot read the rollouts table: %s", exc)
                served.rollout.poll_error = first_line(exc, 200)
                service.metrics.rollout_poll_failures.inc()
                continue
            served.rollout.poll_error = None
            if row is not None:
                await apply(service, served, row)
        _report(service)
        await asyncio.sleep(interval)
