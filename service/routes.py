"""The v1 routes: thin, validate, hand to the batcher, shape the answer."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Scope

from service import jsonbody
from service.batcher import Outcome
from service.errors import NotReady, RequestTimeout, ServiceError, TooLarge, error_body
from service.jsonbody import StrictJSONRoute
from service.log import recent_rows
from service.options import option_fields, predict_with_options
from service.rollout import reload, replica_name
from service.rollout_state import RolloutState
from service.schemas import (
    BatchItemError,
    BatchRequest,
    BatchResponse,
    ErrorDetail,
    ErrorResponse,
    Health,
    LogRow,
    LogRows,
    ModelInfo,
    ModelList,
    ModelSummary,
    ReloadRequest,
    ReloadResponse,
    SentimentRequest,
    SentimentResponse,
)
from service.served import ServedModel
from service.state import ServiceState

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 422, 429, 503)
}
router = APIRouter(route_class=StrictJSONRoute)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, a hop that cost ~6% of the event loop's time per request under load (py-spy).
async def get_service(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[ServiceState, Depends(get_service)]


# The key dependencies read the service state themselves rather than depend on `get_service`: one
# dependency to solve per request instead of two.
async def client_key(request: Request) -> str | None:
    return request.app.state.service.keys.client(request)  # type: ignore[no-any-return]


async def admin_key(request: Request) -> str:
    return request.app.state.service.keys.admin(request)  # type: ignore[no-any-return]


ClientDep = Annotated[str | None, Depends(client_key)]
AdminDep = Annotated[str, Depends(admin_key)]


ISO_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
# In the schema a time parameter is an RFC 3339 `date-time` (what generated clients send); the
# pattern above also takes a date alone and a time without a zone (UTC), as it always has.
DATE_TIME = {"format": "date-time"}


def time_query(description: str) -> Any:
    """A query parameter holding an ISO-8601 time (read by `parse_time`)."""
    return Query(pattern=ISO_TIME, description=description, json_schema_extra=DATE_TIME)


class InvalidQuery(ServiceError):
    status, code = 422, "invalid_request"


def parse_time(name: str, value: str | None) -> datetime | None:
    """A query parameter's ISO-8601 time as an instant in UTC (no zone = UTC, as the log stores it).

    Every time parameter of every route goes through here, so `+01:00`, `-01:00` and `Z` mean the
    instant they name; a time the parser refuses or whose UTC instant falls outside the years
    1-9999 is a 422 naming the parameter.
    """
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(f"{name}: {value!r} is not an ISO-8601 time") from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise InvalidQuery(f"{name}: {value!r} is outside the years 1-9999 in UTC") from None


class InvalidText(ServiceError):
    status, code = 422, "invalid_text"


class TextTooLong(TooLarge):
    code = "text_too_long"


def check_text(text: str, max_chars: int) -> ServiceError | None:
    """Return the error for a text the model must not see, or None."""
    if len(text) > max_chars:
        return TextTooLong(f"text has {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        return InvalidText("text is empty")
    if "\x00" in text:
        return InvalidText("text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return InvalidText("text contains an unpaired UTF-16 surrogate")
    return None


def _sentiment(outcome: Outcome) -> dict[str, Any]:
    """A `Sentiment` as a plain dict: the prediction routes answer with JSON bytes directly."""
    p = outcome.prediction
    return {
        "label": p.label,
        "score": p.score,
        "probabilities": p.probabilities,
        "polarity": p.polarity,
        "tokens_used": p.tokens_used,
        "tokens_total": p.tokens_total,
        "truncated": p.tokens_total > p.tokens_used,
    }


def _json(document: dict[str, Any]) -> Response:
    # Returning a Response skips FastAPI's re-validation of the response model: the documents are
    # built field by field above from typed predictions (tests check them against the schema).
    return Response(orjson.dumps(document), media_type="application/json")


async def _predict(service: ServiceState, served: ServedModel, texts: list[str]) -> list[Outcome]:
    futures = served.batcher.submit(texts)
    try:
        # asyncio.timeout rather than wait_for, and no gather for one text: no extra task per request
        async with asyncio.timeout(service.settings.request_timeout_s):
            if len(futures) == 1:
                return [await futures[0]]
            return await asyncio.gather(*futures)
    except TimeoutError:
        raise RequestTimeout("the prediction took too long; retry later", headers={"Retry-After": "1"}) from None
    finally:
        for future in futures:
            future.cancel()  # no-op when done; frees the slot when the client gave up or we timed out


FastAnswer = tuple[int, bytes, dict[str, str]]  # status, JSON body, extra headers
# A body of SentimentRequest's keys that cannot hold a duplicate names each key at most once,
# unescaped (a `\u` escape could spell one another way).
FAST_KEYS = tuple(f'"{name}"'.encode() for name in SentimentRequest.model_fields)


async def fast_predict_one(service: ServiceState, scope: Scope, body: bytes) -> FastAnswer | None:
    """`POST /v1/sentiment` for a well-formed request, without FastAPI's routing (the hot path).

    Taken only when the request is plainly valid: a JSON content type, a body that parses (orjson,
    stricter than the json module) into a valid `SentimentRequest`, an accepted key and a text the
    model may see. Anything else returns None and goes through the FastAPI route below, so every
    error a client can cause keeps one implementation. py-spy showed FastAPI's request handling
    (dependencies, query parsing, response handling) at over half of the event loop's time per
    prediction; BENCHMARKS.md has the before and after.
    """
    headers = Headers(scope=scope)
    if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        return None
    # orjson (fast) takes the last of two equal keys: a body that may repeat one is read by the
    # strict parser, whose refusal the route below answers.
    may_repeat = b"\\u" in body or any(body.count(key) > 1 for key in FAST_KEYS)
    try:
        parsed = SentimentRequest.model_validate(jsonbody.loads(body) if may_repeat else orjson.loads(body))
        client = service.keys.client_of(headers)
        served = service.model(parsed.model)
    except (orjson.JSONDecodeError, json.JSONDecodeError, ValidationError, ServiceError):
        return None
    if parsed.explain or parsed.sentences:
        return None  # options take the FastAPI route (service/options.py)
    text = parsed.text
    if check_text(text, service.settings.max_text_chars) is not None:
        return None
    state = scope["state"]
    try:
        document = await _classify_one(service, served, text, client, state["request_id"], state["started"])
    except ServiceError as exc:
        return exc.status, orjson.dumps(error_body(exc.code, exc.message, state["request_id"])), exc.headers
    return 200, orjson.dumps(document), {}


async def _classify_one(
    service: ServiceState, served: ServedModel, text: str, client: str | None, request_id: str, started: float
) -> dict[str, Any]:
    """Predict one checked text, record its log row, return the `SentimentResponse` document."""
    (outcome,) = await _predict(service, served, [text])
    row = service.log_row(
        request_id=request_id,
        endpoint="sentiment",
        index=0,
        client=client,
        model=served.name,
        text=text,
        latency_s=time.perf_counter() - started,
        outcome=outcome,
    )
    await service.record([row])
    return {
        **_sentiment(outcome),
        "model": served.name,
        "model_version": outcome.model_version,
        "request_id": request_id,
    }


@router.post("/v1/sentiment", response_model=SentimentResponse, responses=ERRORS, tags=["predict"])
async def predict_one(body: SentimentRequest, request: Request, client: ClientDep) -> Response:
    """Classify one text."""
    service: ServiceState = request.app.state.service
    served = service.model(body.model)
    problem = check_text(body.text, service.settings.max_text_chars)
    if problem is not None:
        raise problem
    state = request.state
    if not (body.explain or body.sentences):
        return _json(await _classify_one(service, served, body.text, client, state.request_id, state.started))
    (answer,) = await predict_with_options(service, served, [body.text], explain=body.explain, sentences=body.sentences)
    if isinstance(answer, ServiceError):
        raise answer
    row = service.log_row(
        request_id=state.request_id,
        endpoint="sentiment",
        index=0,
        client=client,
        model=served.name,
        text=body.text,
        latency_s=time.perf_counter() - state.started,
        outcome=answer.outcome,
        explain=body.explain,
        sentences=body.sentences,
    )
    await service.record([row])
    document = {**_sentiment(answer.outcome), **option_fields(answer)}
    version = answer.outcome.model_version
    return _json({**document, "model": served.name, "model_version": version, "request_id": state.request_id})


@router.post("/v1/sentiment/batch", response_model=BatchResponse, responses=ERRORS, tags=["predict"])
async def predict_batch(body: BatchRequest, request: Request, client: ClientDep) -> Response:
    """Classify several texts; an invalid text gets an error entry in its place."""
    service: ServiceState = request.app.state.service
    settings = service.settings
    served = service.model(body.model)
    if not body.texts:
        raise InvalidText("texts is empty; send at least one text")
    if len(body.texts) > settings.max_batch_items:
        raise TooLarge(f"{len(body.texts)} texts; the limit is {settings.max_batch_items} per request")
    problems = [check_text(t, settings.max_text_chars) for t in body.texts]
    valid = [i for i, p in enumerate(problems) if p is None]
    options = body.explain or body.sentences
    extra: dict[int, dict[str, Any]] = {}
    if options and valid:
        answers = await predict_with_options(
            service, served, [body.texts[i] for i in valid], explain=body.explain, sentences=body.sentences
        )
        outcomes = {}
        for i, answer in zip(valid, answers, strict=True):
            if isinstance(answer, ServiceError):
                problems[i] = answer
            else:
                outcomes[i], extra[i] = answer.outcome, option_fields(answer)
    else:
        outcomes = dict(
            zip(valid, await _predict(service, served, [body.texts[i] for i in valid]) if valid else [], strict=True)
        )
    request_id = request.state.request_id
    latency = time.perf_counter() - request.state.started
    results: list[dict[str, Any]] = []
    rows = []
    for i, text in enumerate(body.texts):
        problem = problems[i]
        if problem is None:
            results.append({**_sentiment(outcomes[i]), **extra[i]} if options else _sentiment(outcomes[i]))
        else:
            error = ErrorDetail(code=problem.code, message=problem.message, request_id=request_id)
            results.append(BatchItemError(error=error).model_dump())
        rows.append(
            service.log_row(
                request_id=request_id,
                endpoint="sentiment/batch",
                index=i,
                client=client,
                model=served.name,
                text=text,
                latency_s=latency,
                outcome=outcomes.get(i),
                status=200 if problem is None else problem.status,
                error_code=None if problem is None else problem.code,
                explain=body.explain,
                sentences=body.sentences,
            )
        )
    await service.record(rows)
    version = next(iter(outcomes.values())).model_version if outcomes else served.predictor.version
    return _json({"results": results, "model": served.name, "model_version": version, "request_id": request_id})


@router.get("/v1/model", response_model=ModelInfo, responses=ERRORS, tags=["model"])
async def model_info(service: ServiceDep, client: ClientDep) -> ModelInfo:
    """Describe the default model (`GET /v1/models` lists every one)."""
    served = service.model()
    predictor = served.predictor
    artifact = predictor.artifact
    return ModelInfo(
        name=served.name,
        artifact=artifact.path.resolve().name,  # never its path on the server (the start-up log names it)
        version=predictor.version,
        labels=predictor.labels,
        max_batch_items=service.settings.max_batch_items,
        config=artifact.config.to_dict(),
        metrics=artifact.metrics,
        replica=replica_name(),
    )


@router.get("/v1/models", response_model=ModelList, responses=ERRORS, tags=["model"])
async def list_models(service: ServiceDep, client: ClientDep) -> ModelList:
    """Every served model: name, version, labels, language, max tokens, default or not."""
    service.model()  # 503 before start
    summaries = []
    for served in service.models.values():
        predictor = served.predictor
        config = predictor.artifact.config
        language = getattr(config, "language", None)
        summaries.append(
            ModelSummary(
                name=served.name,
                version=predictor.version,
                labels=predictor.labels,
                language=language if isinstance(language, str) else None,
                max_tokens=config.max_tokens,
                default=served.name == service.default_model,
            )
        )
    return ModelList(models=summaries)


@router.get("/v1/requests", response_model=LogRows, responses=ERRORS, tags=["admin"])
def request_log(
    service: ServiceDep,
    admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="most rows returned, newest first")] = 100,
    since: Annotated[
        str | None,
        time_query("only rows at or after this ISO-8601 time, e.g. 2026-01-31T12:00:00Z"),
    ] = None,
    label: Annotated[str | None, Query(max_length=64, description="only rows with this label")] = None,
    model: Annotated[
        str | None,
        Query(max_length=64, description="only rows of this model (rows from before named models: the default)"),
    ] = None,
) -> LogRows:
    """Recent request-log rows, newest first (admin)."""
    if service.engine is None:
        raise NotReady("the request log is not open yet")
    start = parse_time("since", since)
    try:
        rows = recent_rows(
            service.engine,
            limit=limit,
            since=start,
            label=label,
            model=model,
            default=model is not None and model == service.default_model,
        )
    except Exception as exc:  # noqa: BLE001 - a failing log database is a 503, not a 500
        raise NotReady(f"the request log cannot be read: {type(exc).__name__}") from None
    return LogRows(rows=[LogRow(**r) for r in rows], count=len(rows))


@router.post("/v1/admin/reload", response_model=ReloadResponse, responses=ERRORS, tags=["admin"])
async def reload_model(service: ServiceDep, admin: AdminDep, body: ReloadRequest | None = None) -> ReloadResponse:
    """Load the configured artifact (or `model_dir`) again and swap it in, on every replica sharing the
    log database; on failure keep the current one."""
    if body is None:
        return await reload(service)
    return await reload(service, body.model_dir, body.model)


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """200 while the process lives."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}}, tags=["health"])
async def readyz(service: ServiceDep) -> Response:
    """200 once every model is loaded and the log writer runs; 503 otherwise.

    `model`, `batcher` and `rollout` describe the default model; `models` every one by name.
    """
    writer = service.writer
    models: dict[str, dict[str, Any]] = {
        name: {
            "version": served.predictor.version,
            "batcher": served.batcher.running and not service.draining,
            "rollout": served.rollout.check(served.predictor.version),
        }
        for name, served in service.models.items()
    }
    default = models.get(service.default_model)
    checks = {
        "model": default["version"] if default else None,
        "batcher": bool(models) and all(m["batcher"] for m in models.values()),
        "log_writer": writer is not None and writer.running,
        "log_degraded": writer.degraded if writer is not None else None,
        "log_error": writer.stats.last_error if writer is not None else None,
        "rollout": default["rollout"] if default else RolloutState().check(None),
        "models": models,
    }
    ready = bool(checks["batcher"] and checks["log_writer"])
    if ready and checks["log_degraded"] and service.settings.log_mode == "durable":
        ready = False  # durable mode cannot answer while its log cannot commit
    # A replica that cannot serve the newest rollout's version keeps serving its own: degraded, not down.
    degraded = checks["log_degraded"] or not all(m["rollout"]["in_step"] for m in models.values())
    status = "ready" if ready and not degraded else ("degraded" if ready else "not_ready")
    return JSONResponse(Health(status=status, checks=checks).model_dump(), 200 if ready else 503)


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus text format."""
    m = service.metrics
    if service.models:  # texts waiting, over every model's queue
        m.queue_depth.set(sum(served.batcher.depth for served in service.models.values()))
    if service.writer is not None:
        m.log_pending.set(service.writer.pending)
        m.log_degraded.set(1 if service.writer.degraded else 0)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
