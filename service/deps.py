"""The routes' `Annotated` dependencies (the service state, the caller's key, an admin key), their
error responses, and time query parameters: one module every router imports, none imports a router."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from service.errors import InvalidQuery
from service.schemas import ErrorResponse
from service.state import ServiceState

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 422, 429, 503)
}


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
