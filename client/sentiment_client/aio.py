"""`AsyncSentimentClient`: the asyncio client (one pooled `httpx.AsyncClient`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from sentiment_client import _core, models
from sentiment_client._core import RetryHook, RetryPolicy
from sentiment_client.errors import SentimentError, Unavailable
from sentiment_client.models import Feedback, ItemError, ModelInfo, ModelSummary, Prediction


class AsyncSentimentClient:
    """The same API as `SentimentClient`, awaitable; `predict_batch` sends up to `concurrency`
    requests at once."""

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
        concurrency: int = 4,
        on_retry: RetryHook | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.policy = RetryPolicy(retries, backoff, max_backoff, max_retry_after)
        self.max_batch_items = max_batch_items
        self.max_batch_bytes = max_batch_bytes
        self.concurrency = concurrency
        self.on_retry = on_retry
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_core.headers(api_key, headers), timeout=timeout, verify=verify
        )

    async def predict(
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
        data, rid = await self._call("POST", "/v1/sentiment", body, request_id)
        return models.prediction(data, model_version=data["model_version"], request_id=rid, item_index=0)

    async def predict_batch(
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
        """Classify any number of texts, in requests within the service's limits; results in order."""
        items = list(texts)
        if not items:
            return []
        parts = list(_core.chunks(items, await self._batch_limit(), self.max_batch_bytes))
        gate = asyncio.Semaphore(self.concurrency)

        async def send(k: int, chunk: list[str]) -> list[Prediction | ItemError]:
            rid = f"{request_id}.{k}" if request_id is not None and len(parts) > 1 else request_id
            async with gate:
                data, _ = await self._call(
                    "POST",
                    "/v1/sentiment/batch",
                    {"texts": chunk, **_core.options(explain, sentences, model, language, unsupported_language)},
                    rid,
                )
            return models.batch_results(data)

        answers = await asyncio.gather(*(send(k, chunk) for k, (_, chunk) in enumerate(parts)))
        return [result for answer in answers for result in answer]

    async def feedback(self, request_id: str, label: str, *, item_index: int = 0, note: str | None = None) -> Feedback:
        """Give the true label of a logged prediction (`Prediction.request_id` / `.item_index`)."""
        body = {"request_id": request_id, "item_index": item_index, "label": label, "note": note}
        data, _ = await self._call("POST", "/v1/feedback", body, None)
        return models.feedback(data)

    async def model(self) -> ModelInfo:
        """The default model: name, version, labels, batch limit, config and metrics."""
        data, _ = await self._call("GET", "/v1/model", None, None)
        return models.model_info(data)

    async def models(self) -> list[ModelSummary]:
        """Every served model (name, version, labels, language, max tokens, default or not), the default first."""
        data, _ = await self._call("GET", "/v1/models", None, None)
        return models.model_list(data)

    async def ready(self) -> bool:
        """True when the service answers `/readyz` with 200 (no retries)."""
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def wait_ready(self, timeout: float = 60.0, interval: float = 0.25) -> None:
        """Wait until `ready()`; raise `Unavailable` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not await self.ready():
            if time.monotonic() >= deadline:
                raise Unavailable(f"not ready after {timeout} s", code="not_ready")
            await asyncio.sleep(interval)

    async def _batch_limit(self) -> int:
        if self.max_batch_items is None:
            self.max_batch_items = (await self.model()).max_batch_items or _core.DEFAULT_MAX_BATCH_ITEMS
        return self.max_batch_items

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, request_id: str | None
    ) -> tuple[Any, str]:
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
                response = await self._http.request(method, path, content=content, headers=headers)
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
            await asyncio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSentimentClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
