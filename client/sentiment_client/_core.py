"""What the sync and async clients share: retry policy, request ids, bodies, chunking, answers."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from sentiment_client.errors import ConnectionFailed, SentimentError, error_from_response, parse_retry_after

__version__ = "0.1.0"
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # overloaded, not ready, or a proxy in between failing
DEFAULT_MAX_BATCH_ITEMS = 256  # the service's default, for a server too old to announce its limit
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")  # what the service accepts as X-Request-ID


@dataclass(frozen=True)
class RetryEvent:
    """Told to `on_retry` before each retry: what failed and how long the client waits."""

    attempt: int  # the attempt that failed, from 1
    delay: float  # seconds until the next attempt
    request_id: str  # the same for every attempt of one call
    status: int | None  # HTTP status, None for a connection error
    code: str
    retry_after: float | None  # what the service asked for, if anything


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # retries after the first attempt
    backoff: float = 0.25  # seconds before the first retry, doubled for each next one
    max_backoff: float = 8.0
    max_retry_after: float = 30.0  # cap on the wait a Retry-After header may ask for

    def delay(self, error: SentimentError, attempt: int) -> float | None:
        """Seconds before retrying after `attempt` (from 0) failed with `error`; None: do not retry."""
        if attempt >= self.retries:
            return None
        if not (isinstance(error, ConnectionFailed) or error.status in RETRY_STATUSES):
            return None
        if error.retry_after is not None:
            wait = min(error.retry_after, self.max_retry_after)
            return wait + random.uniform(0, 0.1 * wait)  # never sooner than asked; spread the herd
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"


def new_request_id(given: str | None = None) -> str:
    if given is None:
        return uuid.uuid4().hex
    if not _VALID_ID.match(given):
        raise ValueError(f"request_id must be 1-128 of A-Z a-z 0-9 . _ : - (got {given!r})")
    return given


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def options(
    explain: bool,
    sentences: bool,
    model: str | None = None,
    language: str | None = None,
    unsupported_language: str | None = None,
) -> dict[str, bool | str]:
    """Only options that are on (and `model`, `language`, `unsupported_language` when named): the answer
    without them is unchanged, and older servers refuse unknown fields."""
    chosen: dict[str, bool | str] = {name: True for name, on in (("explain", explain), ("sentences", sentences)) if on}
    named = (("model", model), ("language", language), ("unsupported_language", unsupported_language))
    chosen.update({name: value for name, value in named if value is not None})
    return chosen


def chunks(texts: Sequence[str], max_items: int, max_bytes: int) -> Iterator[tuple[int, list[str]]]:
    """Split texts into (offset, chunk) within an item count and an approximate body size."""
    start, size = 0, 0
    for i, text in enumerate(texts):
        text_bytes = len(encode({"t": text})) - 5  # the string as the body carries it, and a comma
        if i > start and (i - start >= max_items or size + text_bytes > max_bytes):
            yield start, list(texts[start:i])
            start, size = i, 0
        size += text_bytes
    if start < len(texts):
        yield start, list(texts[start:])


def headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    values = {"User-Agent": f"sentiment-client/{__version__}", "Accept": "application/json"}
    if api_key:
        values["Authorization"] = f"Bearer {api_key}"
    return {**values, **(extra or {})}


def connection_error(exc: httpx.TransportError, request_id: str) -> ConnectionFailed:
    return ConnectionFailed(f"{type(exc).__name__}: {exc}", code="connection_error", request_id=request_id)


def answer(response: httpx.Response, request_id: str) -> Any:
    """The JSON document of a 2xx answer; the typed error of any other (returned, not raised)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and body is not None:
        return body
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    rid = response.headers.get("x-request-id", request_id)
    return error_from_response(response.status_code, body, rid, retry_after)


RetryHook = Callable[[RetryEvent], None]


def event(error: SentimentError, attempt: int, delay: float, request_id: str) -> RetryEvent:
    return RetryEvent(attempt + 1, delay, request_id, error.status, error.code, error.retry_after)
