"""`POST /v1/feedback`, `GET /v1/stats` and `GET /v1/review`: reads and writes of the log database.

The database work runs in a worker thread (`asyncio.to_thread`), never on the event loop that
serves predictions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.deps import ERRORS, AdminDep, ClientDep, ServiceDep, parse_time, time_query
from service.errors import InvalidQuery, NotReady, ServiceError
from service.jsonbody import StrictJSONRoute
from service.log.drift import compare
from service.log.feedback import find_prediction, review_queue, upsert_feedback
from service.log.rollup_read import state as rollup_state
from service.log.stats import WINDOWS, Window, drift_histograms, window_stats
from service.monitoring.gauges import DriftGauges, refresh_forever
from service.monitoring.retention import RetentionMetrics, partition_forever, retain_forever
from service.monitoring.retention import enabled as retention_enabled
from service.monitoring.rollup import RollupGauges, maintain_forever
from service.monitoring.schemas import FeedbackRequest, FeedbackResponse, ReviewQueue, Stats
from service.state import ServiceState

T = TypeVar("T")
MAX_SPAN = timedelta(days=400)


class UnknownPrediction(ServiceError):
    status, code = 404, "unknown_prediction"


class InvalidLabel(ServiceError):
    status, code = 422, "invalid_label"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Refresh the drift gauges and keep the stats rollup, in the background (inside the app lifespan, log open)."""
    service: ServiceState = app.state.service
    gauges = getattr(app.state, "drift_gauges", None)
    if gauges is None:  # once per app: a lifespan may run again (tests), the registry keeps its gauges
        gauges = app.state.drift_gauges = DriftGauges(service.metrics.registry)
        app.state.rollup_gauges = RollupGauges(service.metrics.registry)
    if getattr(app.state, "retention_metrics", None) is None:
        app.state.retention_metrics = RetentionMetrics(service.metrics.registry)
    tasks = []
    if retention_enabled(service):
        tasks.append(asyncio.create_task(retain_forever(service, app.state.retention_metrics), name="retention"))
    if make_url(service.settings.database_url).get_backend_name() == "postgresql":
        partitioning = partition_forever(service, app.state.retention_metrics)
        tasks.append(asyncio.create_task(partitioning, name="log-partitions"))
    if service.settings.drift_refresh_s > 0:
        tasks.append(asyncio.create_task(refresh_forever(service, gauges), name="drift-gauges"))
    if service.settings.stats_rollup_s > 0:
        tasks.append(asyncio.create_task(maintain_forever(service, app.state.rollup_gauges), name="stats-rollup"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


router = APIRouter(tags=["monitoring"], lifespan=lifespan, route_class=StrictJSONRoute)
ERRORS_404 = {**ERRORS, 404: ERRORS[422]}
IsoTime = Annotated[str | None, time_query("ISO-8601 time, e.g. 2026-01-31T12:00:00Z")]
ModelQuery = Annotated[
    str | None,
    Query(max_length=64, description="only rows of this model, by name (rows from before named models: the default's)"),
]


async def _in_thread(service: ServiceState, work: Callable[[Engine], T]) -> T:
    engine = service.engine
    if engine is None:
        raise NotReady("the request log is not open yet")
    try:
        return await asyncio.to_thread(work, engine)
    except ServiceError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing log database is a 503, not a 500
        raise NotReady(f"the request log cannot be read: {type(exc).__name__}") from None


@router.post("/v1/feedback", response_model=FeedbackResponse, responses=ERRORS_404)
async def post_feedback(
    body: FeedbackRequest, request: Request, service: ServiceDep, client: ClientDep
) -> FeedbackResponse:
    """Give the true label of a logged prediction; a later answer for the same item replaces it.

    With prediction keys configured, a prediction made with key K takes feedback from key K or an
    admin key only; for any other key it does not exist (the same 404 as an unknown id).

    The log is written asynchronously, so feedback may arrive before its prediction's row is
    committed: on a miss this replica's writer is flushed (rows it holds are committed at once) and
    the lookup repeated; on a database shared by replicas (not SQLite), once more after two flush
    intervals, for a row that another replica holds.
    """
    service.model()  # 503 before start
    served_labels = {m.name: m.predictor.labels for m in service.models.values()}
    if not any(body.label in labels for labels in served_labels.values()):
        known = list(dict.fromkeys(label for labels in served_labels.values() for label in labels))
        raise InvalidLabel(f"label {body.label!r} is not one of the models' labels {known}")
    anyone = service.keys.sees_all(request.headers)

    def lookup(engine: Engine) -> Any:
        with engine.begin() as connection:
            return find_prediction(connection, body.request_id, body.item_index, owner=client, anyone=anyone)

    def store(engine: Engine) -> FeedbackResponse:
        found = lookup(engine)
        waits = [0.0]
        if engine.dialect.name != "sqlite":  # a database shared by replicas: another one may hold the row
            waits.append(min(1.0, 2 * service.settings.log_flush_ms / 1000))
        while found is None and waits:
            if service.writer is not None:
                service.writer.flush(timeout=2.0)
            time.sleep(waits.pop(0))
            found = lookup(engine)
        if found is None:
            raise UnknownPrediction(
                f"no logged prediction has request id {body.request_id!r} and item index {body.item_index}"
            )
        labels = served_labels.get(found.model or service.default_model)
        if labels is not None and body.label not in labels:  # the row's own model's labels
            raise InvalidLabel(f"label {body.label!r} is not one of model {found.model!r}'s labels {labels}")
        with engine.begin() as connection:
            stored = upsert_feedback(
                connection,
                prediction=found,
                request_id=body.request_id,
                item_index=body.item_index,
                label=body.label,
                note=body.note,
                client_key_id=client,
            )
        return FeedbackResponse(**stored, predicted_label=found.label, model_version=found.model_version)

    return await _in_thread(service, store)


@router.get("/v1/stats", response_model=Stats, responses=ERRORS)
async def stats(
    service: ServiceDep,
    admin: AdminDep,
    window: Annotated[
        Literal["1h", "24h", "7d", "30d"], Query(description="the last hour, day, week or month")
    ] = "24h",
    since: IsoTime = None,
    until: IsoTime = None,
    model_version: Annotated[str | None, Query(max_length=32, description="only this model version")] = None,
    model: ModelQuery = None,
    reference: Annotated[
        str,
        Query(
            max_length=40,
            description="drift reference: 'previous' (the window of equal length before) or an ISO-8601 time "
            "(from then to the window's start)",
        ),
    ] = "previous",
) -> Stats:
    """Aggregates of the request log over a window, computed in the database (admin)."""
    end = parse_time("until", until) or datetime.now(UTC)
    try:
        start = parse_time("since", since) or end - WINDOWS[window]
        if not start < end or end - start > MAX_SPAN:
            raise InvalidQuery(f"since must be before until, at most {MAX_SPAN.days} days apart")
        current = Window(start, end, model_version, model, model is not None and model == service.default_model)
        if reference == "previous":
            ref = current.previous()
        else:
            ref_start = parse_time("reference", reference)
            if ref_start is None or not ref_start < start:
                raise InvalidQuery("reference must be 'previous' or a time before the window's start")
            ref = Window(ref_start, start, model_version, current.model, current.model_is_default)
    except OverflowError:
        raise InvalidQuery("the window or its reference reaches outside the years 1-9999") from None
    settings = service.settings
    served = service.models.get(model or service.default_model)
    labels = served.predictor.labels if served is not None else service.predictor.labels

    def compute(engine: Engine) -> dict[str, Any]:
        use = settings.stats_rollup_s > 0
        with engine.connect() as connection:
            # A rollup pass that commits between these reads could count a late row twice (rolled
            # up and read from the log): compute again when the rollup's state moved meanwhile.
            for _ in range(3):
                before = rollup_state(connection) if use else None
                figures = window_stats(connection, current, labels=labels, rollup=use)
                reference_counts = drift_histograms(connection, ref, rollup=use)
                if not use or rollup_state(connection) == before:
                    break
        figures["drift"] = compare(
            reference_counts,
            current_distributions(figures),
            threshold=settings.drift_threshold,
            min_rows=settings.drift_min_rows,
            reference_window=(ref.start, ref.end),
        )
        return figures

    return Stats.model_validate(await _in_thread(service, compute))


def current_distributions(figures: dict[str, Any]) -> dict[str, Any]:
    """The drift inputs of a window, taken from its /v1/stats figures (no second query)."""
    return {
        "label_mix": figures["labels"],
        "language_mix": figures["languages"],
        "score": figures["score_histogram"]["counts"],
        "text_length": figures["text_length"]["counts"],
        "unknown_token_rate": figures["unknown_token_rate"]["counts"],
    }


@router.get("/v1/review", response_model=ReviewQueue, responses=ERRORS)
async def review(
    service: ServiceDep,
    admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500, description="most items returned")] = 50,
    label: Annotated[str | None, Query(max_length=64, description="only predictions of this label")] = None,
    model_version: Annotated[str | None, Query(max_length=32, description="only this model version")] = None,
    client_key_id: Annotated[str | None, Query(max_length=16, description="only this client's key id")] = None,
    model: ModelQuery = None,
    since: IsoTime = None,
) -> ReviewQueue:
    """The least confident recent predictions (default: the last 24 h), with any feedback on them (admin)."""
    start = parse_time("since", since) or datetime.now(UTC) - timedelta(hours=24)

    def read(engine: Engine) -> list[dict[str, Any]]:
        with engine.connect() as connection:
            return review_queue(
                connection,
                since=start,
                limit=limit,
                label=label,
                model_version=model_version,
                client_key_id=client_key_id,
                model=model,
                model_is_default=model is not None and model == service.default_model,
            )

    items = await _in_thread(service, read)
    return ReviewQueue.model_validate({"items": items, "text_logged": service.settings.log_text == "full"})
