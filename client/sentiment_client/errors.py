"""Typed errors carrying the service's error code, message, request id and HTTP status."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class SentimentError(Exception):
    """Base of every error the client raises."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"{status or ''} {code}: {message}".strip() + where)
        self.message = message
        self.code = code  # the service's error code, e.g. "invalid_text", "overloaded"
        self.status = status  # HTTP status; None when no answer came back
        self.request_id = request_id  # the X-Request-ID of the call, to find it in the request log
        self.retry_after = retry_after  # seconds, from Retry-After, when the service sent one


class ConnectionFailed(SentimentError):
    """No answer: the connection failed or timed out on every attempt."""


class InvalidRequest(SentimentError):
    """400 / 422: the body, a text or a field was refused."""


class AuthenticationError(SentimentError):
    """401: no API key was sent."""


class PermissionDenied(SentimentError):
    """403: the key is not valid here (or admin routes are off)."""


class NotFound(SentimentError):
    """404: no such route, model or logged prediction."""


class TooLarge(SentimentError):
    """413: a body, text or batch over the service's limits."""


class Unavailable(SentimentError):
    """429 / 503: overloaded, not ready, or the durable log is unavailable; retried before raised."""


class Overloaded(Unavailable):
    """503 `overloaded`: the service's queue is full."""


_BY_STATUS: dict[int, type[SentimentError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    413: TooLarge,
    422: InvalidRequest,
    429: Unavailable,
    503: Unavailable,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return seconds if seconds >= 0 else None


def error_from_response(status: int, body: Any, request_id: str | None, retry_after: float | None) -> SentimentError:
    """The typed error for an error answer (v1 `{"error": {...}}` or v2 `{"error": "..."}` bodies)."""
    code, message = "http_error", f"HTTP {status}"
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = str(detail.get("code", code))
        message = str(detail.get("message", message))
        request_id = detail.get("request_id") or request_id
    elif isinstance(detail, str):
        code, message = str(body.get("code", code)), detail
        request_id = body.get("request_id") or request_id
    cls = _BY_STATUS.get(status, SentimentError)
    if cls is Unavailable and code == "overloaded":
        cls = Overloaded
    return cls(message, code=code, status=status, request_id=request_id, retry_after=retry_after)
