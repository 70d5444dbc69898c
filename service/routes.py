"""The v1 routes: thin, validate, hand to the batcher, shape the answer."""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Scope

from service import jsonbody
from service.batcher import Outcome
from service.deps import ERRORS, AdminDep, ClientDep, ServiceDep, parse_time, time_query
from service.errors import InvalidText, NotReady, ServiceError, TooLarge, error_body
from service.jsonbody import StrictJSONRoute
from service.log import recent_rows
from service.log.recorder import RequestFacts
from service.options import option_fields, predict_with_options
from service.prediction import check_text, predict, readiness
from service.rollout import reload, replica_name
from service.schemas import (
    BatchItemError,
    BatchRequest,
    BatchResponse,
    ErrorDetail,
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

router = APIRouter(route_class=StrictJSONRoute)


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
    (outcome,) = await predict(service, served, [text])
    facts = RequestFacts(request_id, "sentiment", client, served.name, started)
    await service.recorder.record(facts, [(text, outcome, None)])
    return {
        **_sentiment(outcome),
        "model": served.name,
        "model_version": outcome.model_version,
        "precision": outcome.precision,
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
    facts = RequestFacts(
        state.request_id, "sentiment", client, served.name, state.started, body.explain, body.sentences
    )
    await service.recorder.record(facts, [(body.text, answer.outcome, None)])
    document = {**_sentiment(answer.outcome), **option_fields(answer)}
    version, precision = answer.outcome.model_version, answer.outcome.precision
    return _json(
        {
            **document,
            "model": served.name,
            "model_version": version,
            "precision": precision,
            "request_id": state.request_id,
        }
    )


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
            zip(valid, await predict(service, served, [body.texts[i] for i in valid]) if valid else [], strict=True)
        )
    request_id = request.state.request_id
    results: list[dict[str, Any]] = []
    for i in range(len(body.texts)):
        problem = problems[i]
        if problem is None:
            results.append({**_sentiment(outcomes[i]), **extra[i]} if options else _sentiment(outcomes[i]))
        else:
            error = ErrorDetail(code=problem.code, message=problem.message, request_id=request_id)
            results.append(BatchItemError(error=error).model_dump())
    facts = RequestFacts(
        request_id, "sentiment/batch", client, served.name, request.state.started, body.explain, body.sentences
    )
    items = [(text, outcomes.get(i), problems[i]) for i, text in enumerate(body.texts)]
    await service.recorder.record(facts, items)
    first = next(iter(outcomes.values()), None)
    version = first.model_version if first else served.predictor.version
    precision = first.precision if first else served.predictor.precision
    return _json(
        {
            "results": results,
            "model": served.name,
            "model_version": version,
            "precision": precision,
            "request_id": request_id,
        }
    )


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
        runtime=predictor.runtime,
        precision=predictor.precision,
        precision_note=predictor.precision_note,
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
                precision=predictor.precision,
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
    ready, health = readiness(service)
    return JSONResponse(health.model_dump(), 200 if ready else 503)


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
