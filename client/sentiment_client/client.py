"""`SentimentClient`: the blocking client (one pooled `httpx.Client`)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from sentiment_client import _core, models
from sentiment_client._core import RetryHook, RetryPolicy
from sentiment_client.errors import SentimentError, Unavailable
from sentiment_client.models import Feedback, ItemError, ModelInfo, ModelSummary, Prediction


class SentimentClient:
    """Call the sentiment service over HTTP.

    Every call is retried on connection errors and on 429/502/503/504, waiting as `Retry-After`
    asks (capped at `max_retry_after`) or with exponential backoff and jitter; every attempt of one
    call sends the same `X-Request-ID`. Errors raise subclasses of `SentimentError`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        max_batch_items: int | None = None,
        max_batch_bytes: int = 1_000_000,
        on_retry: RetryHook | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        """`max_batch_items`: texts per batch request (None: the limit `GET /v1/model` announces).
        `max_batch_bytes`: keep each batch body under this size (the service's default limit is 2 MB).
        `on_retry`: called with a `RetryEvent` before each retry (e.g. to log it)."""
        self.policy = RetryPolicy(retries, backoff, max_backoff, max_retry_after)
        self.max_batch_items = max_batch_items
        self.max_batch_bytes = max_batch_bytes
        self.on_retry = on_retry
        self._http = httpx.Client(
            base_url=base_url, headers=_core.headers(api_key, headers), timeout=timeout, verify=verify
        )

    # -- the API -----------------------------------------------------------------------------
    def predict(
        self,
        text: str,
        *,
        explain: bool = False,
        sentences: bool = False,
        model: str | None = None,
        language: str | None = None,
        unsupported_language: str | None = None,
        request_id: str | None = None,
    ) -> Prediction:
        """Classify one text: by the served model of its language, or the one `model` names (`language`: its
        ISO 639-1 code, default detected; `unsupported_language`: "refuse" or "answer" a language no model reads)."""
        body = {"text": text, **_core.options(explain, sentences, model, language, unsupported_language)}
        data, rid = self._call("POST", "/v1/sentiment", body, request_id)
        return models.prediction(data, model_version=data["model_version"], request_id=rid, item_index=0)

    def predict_batch(
        self,
        texts: Iterable[str],
        *,
        explain: bool = False,
        sentences: bool = False,
        model: str | None = None,
        language: str | None = None,
        unsupported_language: str | None = None,
        request_id: str | None = None,
    ) -> list[Prediction | ItemError]:
        """Classify any number of texts, in requests within the service's limits; results in order.

        A text the service refuses gets an `ItemError` in its place. With `request_id`, request k
        of several is sent as `{request_id}.{k}`.
        """
        items = list(texts)
        if not items:
            return []
        parts = list(_core.chunks(items, self._batch_limit(), self.max_batch_bytes))
        results: list[Prediction | ItemError] = []
        for k, (_, chunk) in enumerate(parts):
            rid = f"{request_id}.{k}" if request_id is not None and len(parts) > 1 else request_id
            body = {"texts": chunk, **_core.options(explain, sentences, model, language, unsupported_language)}
            data, _ = self._call("POST", "/v1/sentiment/batch", body, rid)
            results += models.batch_results(data)
        return results

    def feedback(self, request_id: str, label: str, *, item_index: int = 0, note: str | None = None) -> Feedback:
        """Give the true label of a logged prediction (`Prediction.request_id` / `.item_index`)."""
        body = {"request_id": request_id, "item_index": item_index, "label": label, "note": note}
        data, _ = self._call("POST", "/v1/feedback", body, None)
        return models.feedback(data)

    def model(self) -> ModelInfo:
        """The default model: name, version, labels, batch limit, config and metrics."""
        data, _ = self._call("GET", "/v1/model", None, None)
        return models.model_info(data)

    def models(self) -> list[ModelSummary]:
        """Every served model (name, version, labels, language, max tokens, default or not), the default first."""
        data, _ = self._call("GET", "/v1/models", None, None)
        return models.model_list(data)

    def ready(self) -> bool:
        """True when the service answers `/readyz` with 200 (no retries)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.25) -> None:
        """Block until `ready()`; raise `Unavailable` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() >= deadline:
                raise Unavailable(f"not ready after {timeout} s", code="not_ready")
            time.sleep(interval)

    # -- plumbing ------------------------------------------------------------------------------
    def _batch_limit(self) -> int:
        if self.max_batch_items is None:
            self.max_batch_items = self.model().max_batch_items or _core.DEFAULT_MAX_BATCH_ITEMS
        return self.max_batch_items

    def _call(self, method: str, path: str, body: dict[str, Any] | None, request_id: str | None) -> tuple[Any, str]:
        """Send with retries; return the JSON answer and the request id."""
        rid = _core.new_request_id(request_id)
        content = _core.encode(body) if body is not None else None
        headers = {"X-Request-ID": rid}
        if content is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            error: SentimentError
            try:
                response = self._http.request(method, path, content=content, headers=headers)
            except httpx.TransportError as exc:
                error = _core.connection_error(exc, rid)
            else:
                result = _core.answer(response, rid)
                if not isinstance(result, SentimentError):
                    return result, response.headers.get("x-request-id", rid)
                error = result
            delay = self.policy.delay(error, attempt)
            if delay is None:
                raise error
            if self.on_retry is not None:
                self.on_retry(_core.event(error, attempt, delay, rid))
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SentimentClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
