"""The one JSON parser for request bodies: strict UTF-8, no BOM, no duplicate keys, no NaN.

Python's `json` module takes the last of two equal keys, decodes UTF-16 and BOM-prefixed bytes and
reads `NaN` / `Infinity`; a proxy or WAF in front of the service that reads the first key would see
another request than the model does. Every JSON body goes through `loads` instead: the FastAPI
routes by `StrictJSONRoute` (their `request.json()`), the OIP routes and the fast path directly.
Errors are `json.JSONDecodeError`, which FastAPI already turns into the 400 `invalid_json` answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

DUPLICATE = "duplicate key"
NOT_JSON = "the body is not valid JSON (UTF-8)"  # message() of a body without its reason


class StrictJSONError(json.JSONDecodeError):
    """A body that is JSON to the json module but not to this service."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"{DUPLICATE} {key[:64]!r}", "", 0)
            seen.add(key)
    return found


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number", "", 0)


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant)


def loads(raw: bytes) -> Any:
    """Parse a request body; raises `StrictJSONError` (a `json.JSONDecodeError`) for what JSON does not allow."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise StrictJSONError("a byte order mark is not allowed (send UTF-8 without one)", "", 0)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 (byte {exc.start})", "", exc.start) from None
    try:
        return _DECODER.decode(text)
    except StrictJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJSONError(exc.msg, "", exc.pos) from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise StrictJSONError("nested too deep", "", 0) from None


def message(error: json.JSONDecodeError, subject: str = "the body") -> str:
    """The first line of the 400 answer for a body that is not JSON this service takes."""
    base = f"{subject} is not valid JSON (UTF-8)"
    return f"{base}: {error.msg}" if isinstance(error, StrictJSONError) else base


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
