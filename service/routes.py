"""The v1 routes: thin, validate, hand to the batcher, shape the answer."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

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
from service.errors import InvalidText, NotReady, ServiceError, TooLarge, UnsupportedLanguage, error_body
from service.jsonbody import StrictJSONRoute
from service.log import recent_rows
from service.log.recorder import Item, RequestFacts
from service.options import option_fields, predict_with_options
from service.prediction import check_text, predict, readiness
from service.rollout import reload, replica_name
from service.routing import Route, route
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
        named = service.model(parsed.model)
    except (orjson.JSONDecodeError, json.JSONDecodeError, ValidationError, ServiceError):
        return None
    if parsed.explain or parsed.sentences:
        return None  # options take the FastAPI route (service/options.py)
    text = parsed.text
    if check_text(text, service.settings.max_text_chars) is not None:
        return None
    state = scope["state"]
    facts = RequestFacts(state["request_id"], "sentiment", client, named.name, state["started"])
    try:
        routed = await _route_one(service, parsed, facts)
        document = await _classify_one(service, routed, text, facts)
    except ServiceError as exc:
        return exc.status, orjson.dumps(error_body(exc.code, exc.message, state["request_id"])), exc.headers
    return 200, orjson.dumps(document), {}


def _route(service: ServiceState, body: SentimentRequest | BatchRequest, text: str, sticky: str) -> Route:
    return route(service, text, sticky, model=body.model, language=body.language, unsupported=body.unsupported_language)


async def _route_one(service: ServiceState, body: SentimentRequest, facts: RequestFacts) -> Route:
    """Route a single text; a text in a language no model reads is refused, with its log row."""
    try:
        return _route(service, body, body.text, facts.client or facts.request_id)
    except UnsupportedLanguage as exc:
        await service.recorder.record(facts, [Item(body.text, None, exc, language=exc.language)])
        raise


def _read_as(routed: Route) -> dict[str, Any]:
    return {"language": routed.language, "supported": routed.supported}


async def _classify_one(service: ServiceState, routed: Route, text: str, facts: RequestFacts) -> dict[str, Any]:
    """Predict one checked text, record its log row, return the `SentimentResponse` document."""
    served = routed.served
    (outcome,) = await predict(service, served, [text])
    await service.recorder.record(facts, [Item(text, outcome, None, served.name, routed.language, served.role)])
    return {
        **_sentiment(outcome),
        **_read_as(routed),
        "model": served.name,
        "model_version": outcome.model_version,
        "precision": outcome.precision,
        "request_id": facts.request_id,
    }


@router.post("/v1/sentiment", response_model=SentimentResponse, responses=ERRORS, tags=["predict"])
async def predict_one(body: SentimentRequest, request: Request, client: ClientDep) -> Response:
    """Classify one text (read by the model of its language: `language`, `model`)."""
    service: ServiceState = request.app.state.service
    named = service.model(body.model)  # an unknown name: 404 before anything else
    problem = check_text(body.text, service.settings.max_text_chars)
    if problem is not None:
        raise problem
    state = request.state
    facts = RequestFacts(state.request_id, "sentiment", client, named.name, state.started, body.explain, body.sentences)
    routed = await _route_one(service, body, facts)
    if not (body.explain or body.sentences):
        return _json(await _classify_one(service, routed, body.text, facts))
    served = routed.served
    (answer,) = await predict_with_options(service, served, [body.text], explain=body.explain, sentences=body.sentences)
    if isinstance(answer, ServiceError):
        raise answer
    await service.recorder.record(
        facts, [Item(body.text, answer.outcome, None, served.name, routed.language, served.role)]
    )
    document = {**_sentiment(answer.outcome), **_read_as(routed), **option_fields(answer)}
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
    """Classify several texts, each read by the model of its language; an invalid text gets an error entry in
    its place."""
    service: ServiceState = request.app.state.service
    settings = service.settings
    named = service.model(body.model)  # the request's model (or the default): 404 for an unknown name
    if not body.texts:
        raise InvalidText("texts is empty; send at least one text")
    if len(body.texts) > settings.max_batch_items:
        raise TooLarge(f"{len(body.texts)} texts; the limit is {settings.max_batch_items} per request")
    problems = [check_text(t, settings.max_text_chars) for t in body.texts]
    routes: dict[int, Route] = {}
    sticky = client or request.state.request_id  # a canary share answers the same clients every time
    for i, text in enumerate(body.texts):
        if problems[i] is None:
            try:
                routes[i] = _route(service, body, text, sticky)
            except ServiceError as exc:
                problems[i] = exc
    groups: dict[tuple[str, str], list[int]] = {}  # (model name, primary or canary) -> the texts it reads, in order
    readers: dict[tuple[str, str], ServedModel] = {}
    for i, chosen in routes.items():
        key = (chosen.served.name, chosen.served.role)
        groups.setdefault(key, []).append(i)
        readers[key] = chosen.served
    answered = await asyncio.gather(
        *(_predict_group(service, readers[key], [body.texts[i] for i in group], body) for key, group in groups.items())
    )
    outcomes: dict[int, Outcome] = {}
    extra: dict[int, dict[str, Any]] = {}
    for group, answers in zip(groups.values(), answered, strict=True):
        for i, answer in zip(group, answers, strict=True):
            if isinstance(answer, ServiceError):
                problems[i] = answer
            else:
                outcomes[i], extra[i] = answer
    request_id = request.state.request_id
    results: list[dict[str, Any]] = []
    items: list[Item] = []
    for i, text in enumerate(body.texts):
        problem, routed = problems[i], routes.get(i)
        if problem is not None:
            error = ErrorDetail(code=problem.code, message=problem.message, request_id=request_id)
            results.append(BatchItemError(error=error).model_dump())
        elif routed is not None:
            outcome = outcomes[i]
            document = {**_sentiment(outcome), **_read_as(routed), **extra[i]}
            results.append(
                {
                    **document,
                    "model": routed.served.name,
                    "model_version": outcome.model_version,
                    "precision": outcome.precision,
                }
            )
        if routed is not None:
            items.append(Item(text, outcomes.get(i), problem, routed.served.name, routed.language, routed.served.role))
        else:
            items.append(Item(text, None, problem, language=getattr(problem, "language", None)))
    facts = RequestFacts(
        request_id, "sentiment/batch", client, named.name, request.state.started, body.explain, body.sentences
    )
    await service.recorder.record(facts, items)
    own = [outcomes[i] for i in outcomes if routes[i].served.name == named.name]
    version = own[0].model_version if own else named.predictor.version
    precision = own[0].precision if own else named.predictor.precision
    return _json(
        {
            "results": results,
            "model": named.name,
            "model_version": version,
            "precision": precision,
            "request_id": request_id,
        }
    )


async def _predict_group(
    service: ServiceState, served: ServedModel, texts: list[str], body: BatchRequest
) -> list[tuple[Outcome, dict[str, Any]] | ServiceError]:
    """One model's share of a batch request: each text's outcome and the fields its options add, or its error."""
    if not (body.explain or body.sentences):
        return [(outcome, {}) for outcome in await predict(service, served, texts)]
    answers = await predict_with_options(service, served, texts, explain=body.explain, sentences=body.sentences)
    return [
        answer if isinstance(answer, ServiceError) else (answer.outcome, option_fields(answer)) for answer in answers
    ]


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
    role: Annotated[
        Literal["served", "shadow", "all"],
        Query(description="served: answers (primary and canary rows); shadow: a candidate's shadow scores; all"),
    ] = "served",
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
            role=role,
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
