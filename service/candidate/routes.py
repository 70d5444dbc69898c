"""The candidate admin calls (set, read, stop, promote) and `GET /v1/models/{name}/compare`: thin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Engine

from service.candidate.schemas import CandidateRequest, CandidateState, Compare, PromoteResponse
from service.deps import ERRORS, AdminDep, ServiceDep, parse_time, time_query
from service.errors import InvalidQuery, NotReady
from service.jsonbody import StrictJSONRoute
from service.log import query_in_thread
from service.log.compare import CompareWindow, compare

router = APIRouter(tags=["admin"], route_class=StrictJSONRoute)
ERRORS_409 = {**ERRORS, 409: ERRORS[422]}
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_SPAN = timedelta(days=400)


@router.get("/v1/models/{name}/candidate", response_model=CandidateState, responses=ERRORS)
async def candidate_state(name: str, service: ServiceDep, admin: AdminDep) -> CandidateState:
    """The model's shadow / canary candidate on this replica (admin)."""
    served = service.model(name)
    return CandidateState.model_validate(service.candidates.describe(served))


@router.put("/v1/models/{name}/candidate", response_model=CandidateState, responses=ERRORS)
async def set_candidate(name: str, body: CandidateRequest, service: ServiceDep, admin: AdminDep) -> CandidateState:
    """Run an artifact as the model's candidate on every replica: it shadows `shadow_percent` of the requests
    (scored after the answer, never sent) and answers `canary_percent` of the clients (admin)."""
    served = service.model(name)
    await service.candidates.set(served, body.model_dir, shadow=body.shadow_percent, canary=body.canary_percent)
    return CandidateState.model_validate(service.candidates.describe(served))


@router.delete("/v1/models/{name}/candidate", response_model=CandidateState, responses=ERRORS)
async def stop_candidate(name: str, service: ServiceDep, admin: AdminDep) -> CandidateState:
    """Stop the model's candidate on every replica; the primary answers everything (admin)."""
    served = service.model(name)
    await service.candidates.drop(served)
    return CandidateState.model_validate(service.candidates.describe(served))


@router.post("/v1/models/{name}/candidate/promote", response_model=PromoteResponse, responses=ERRORS_409)
async def promote_candidate(name: str, service: ServiceDep, admin: AdminDep) -> PromoteResponse:
    """Roll the candidate out as the model on every replica (a rollout), then stop it (admin)."""
    served = service.model(name)
    rollout = await service.candidates.promote(served)
    return PromoteResponse(
        rollout=rollout, candidate=CandidateState.model_validate(service.candidates.describe(served))
    )


@router.get("/v1/models/{name}/compare", response_model=Compare, responses=ERRORS)
async def compare_candidate(
    name: str,
    service: ServiceDep,
    admin: AdminDep,
    window: Annotated[
        Literal["1h", "24h", "7d", "30d"], Query(description="the last hour, day, week or month")
    ] = "24h",
    since: Annotated[str | None, time_query("ISO-8601 time, e.g. 2026-01-31T12:00:00Z")] = None,
    until: Annotated[str | None, time_query("ISO-8601 time, e.g. 2026-01-31T12:00:00Z")] = None,
    candidate_version: Annotated[
        str | None,
        Query(max_length=32, description="the candidate to compare; default: the one running now, else every one"),
    ] = None,
    limit: Annotated[int, Query(ge=0, le=200, description="most disagreements listed")] = 20,
) -> Compare:
    """The candidate against the primary over a window: agreement on the same texts (overall and per label),
    the most confident disagreements, latency of each, accuracy of each on feedback (admin)."""
    served = service.model(name)
    end = parse_time("until", until) or datetime.now(UTC)
    try:
        start = parse_time("since", since) or end - WINDOWS[window]
    except OverflowError:
        raise InvalidQuery("the window reaches outside the years 1-9999") from None
    if not start < end or end - start > MAX_SPAN:
        raise InvalidQuery(f"since must be before until, at most {MAX_SPAN.days} days apart")
    if candidate_version is None and served.candidate is not None:
        candidate_version = served.candidate.predictor.version
    scope = CompareWindow(served.name, start, end, candidate_version, served.name == service.default_model)

    def read(engine: Engine) -> dict[str, object]:
        with engine.connect() as connection:
            return compare(connection, scope, disagreements=limit)

    if service.engine is None:
        raise NotReady("the request log is not open yet")
    try:
        figures = await query_in_thread(read, service.engine)
    except Exception as exc:  # noqa: BLE001 - a failing log database is a 503, not a 500
        raise NotReady(f"the request log cannot be read: {type(exc).__name__}") from None
    return Compare.model_validate(
        {
            "model": served.name,
            "start": start,
            "end": end,
            "primary_version": served.predictor.version,
            "candidate_version": candidate_version,
            **figures,
        }
    )
