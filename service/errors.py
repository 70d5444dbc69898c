"""Domain errors and the one place that turns every error into the JSON error body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import jsonbody


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class TooLarge(ServiceError):
    status, code = 413, "too_large"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"


class NotReady(ServiceError):
    status, code = 503, "not_ready"


class ModelNotFound(ServiceError):
    status, code = 404, "model_not_found"


class InferenceFailed(ServiceError):
    status, code = 503, "inference_failed"


class LogUnavailable(ServiceError):
    status, code = 503, "log_unavailable"


class ReloadFailed(ServiceError):
    status, code = 422, "reload_failed"


class InvalidQuery(ServiceError):
    status, code = 422, "invalid_request"


class InvalidText(ServiceError):
    status, code = 422, "invalid_text"


class TextTooLong(TooLarge):
    code = "text_too_long"


class UnsupportedLanguage(ServiceError):
    status, code = 422, "unsupported_language"

    def __init__(self, message: str, *, language: str) -> None:
        super().__init__(message)
        self.language = language  # the language named or detected, for the log row


class RequestTimeout(ServiceError):
    status, code = 503, "timeout"


def error_body(code: str, message: str, request_id: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, request_id_of(request)), exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            cause = exc.__cause__
            text = jsonbody.message(cause) if isinstance(cause, json.JSONDecodeError) else jsonbody.NOT_JSON
            return JSONResponse(error_body("invalid_json", text, request_id_of(request)), 400)
        return JSONResponse(error_body("invalid_request", _describe(errors), request_id_of(request)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        # FastAPI answers 400 only when it cannot parse the body (e.g. bytes that are not UTF-8).
        message = jsonbody.NOT_JSON if exc.status_code == 400 else str(exc.detail)
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), message, request_id_of(request)),
            exc.status_code,
            getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # last resort: still JSON
        return JSONResponse(error_body("internal", "internal error", request_id_of(request)), 500)


class TooLongToExplain(TooLarge):
    code = "too_long_to_explain"
