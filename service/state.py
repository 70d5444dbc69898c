"""`ServiceState`: what the app holds while it runs (settings, the named models each behind its batcher, the
log writer). Not the inference runtime (ONNX Runtime or torch), which each `Predictor` names."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from model import Predictor, load_predictor
from service.auth import KeyChecker
from service.batcher import MicroBatcher, Outcome
from service.config import Settings
from service.errors import LogUnavailable, ModelNotFound, NotReady
from service.explain_budget import ExplainBudget
from service.log import RequestLogWriter
from service.metrics import ServiceMetrics
from service.served import ServedModel


def load_configured_predictor(settings: Settings, model_dir: Path | None = None) -> Predictor:
    """Load `model_dir`, else the artifact the settings name (else the shipped model), batched as configured."""
    return load_predictor(
        model_dir or settings.model_dir,
        batch_size=settings.max_batch_size,
        runtime=settings.runtime,
        threads=settings.inference_threads,
    )


class ServiceState:
    """The app's state (`app.state.service`): settings, keys, metrics, the served models, the log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = ServiceMetrics()
        self.keys = KeyChecker(settings.api_keys, settings.admin_keys)
        self.models: dict[str, ServedModel] = {}  # filled at start, the default first (Settings.served_models)
        self.default_model = settings.default_model_name
        self.writer: RequestLogWriter | None = None
        self.engine: Engine | None = None
        self.draining = False
        self.explain_budget = ExplainBudget(
            tokens=settings.explain_budget_tokens,
            timeout_s=settings.request_timeout_s,
            max_explain_tokens=settings.max_explain_tokens,
        )

    # -- the models ------------------------------------------------------------------------
    def load_predictor(self, model_dir: Path | None = None) -> Predictor:
        return load_configured_predictor(self.settings, model_dir)

    def model(self, name: str | None = None) -> ServedModel:
        """The model a request names (None: the default); 404 `model_not_found` listing the served names."""
        if not self.models:
            raise NotReady("the model is not loaded yet")
        served = self.models.get(self.default_model if name is None else name)
        if served is None:
            raise ModelNotFound(f"no model named {name!r}; this server serves {list(self.models)}")
        return served

    @property
    def batcher(self) -> MicroBatcher | None:
        """The default model's batcher (None before start)."""
        served = self.models.get(self.default_model)
        return served.batcher if served is not None else None

    @property
    def predictor(self) -> Predictor:
        """The default model's predictor."""
        return self.model().predictor

    def on_batch(self, size: int, seconds: float, max_wait: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)
        self.metrics.queue_wait.observe(max_wait)

    def announce_model(self, served: ServedModel) -> None:
        if served.name != self.default_model:
            return  # the info metric describes the default model
        predictor = served.predictor
        self.metrics.model.info(
            {
                "version": predictor.version,
                "labels": ",".join(predictor.labels),
                "name": predictor.artifact.path.resolve().name,  # /metrics is open: no path on the server
                "model": served.name,
            }
        )

    # -- the log ---------------------------------------------------------------------------
    def log_row(
        self,
        *,
        request_id: str,
        endpoint: str,
        index: int,
        client: str | None,
        model: str | None,
        text: str,
        latency_s: float,
        outcome: Outcome | None = None,
        status: int = 200,
        error_code: str | None = None,
        explain: bool = False,
        sentences: bool = False,
    ) -> dict[str, Any]:
        mode = self.settings.log_text
        row: dict[str, Any] = {
            "created_at": datetime.now(UTC),
            "request_id": request_id,
            "endpoint": endpoint,
            "item_index": index,
            "client_key_id": client,
            "text": text if mode == "full" else None,
            "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            if mode != "none"
            else None,
            "text_chars": len(text),
            "label": None,
            "score": None,
            "model_version": None,
            "batch_size": None,
            "queue_wait_ms": None,
            "latency_ms": latency_s * 1000,
            "status": status,
            "error_code": error_code,
            "explain": explain,
            "sentences": sentences,
            "tokens": None,
            "unknown_tokens": None,
            "model": model,
        }
        if outcome is not None:
            row.update(
                label=outcome.prediction.label,
                score=outcome.prediction.score,
                model_version=outcome.model_version,
                batch_size=outcome.batch_size,
                queue_wait_ms=outcome.queue_wait_s * 1000,
                tokens=outcome.prediction.tokens_total,
                unknown_tokens=outcome.prediction.unknown_tokens,
            )
        return row

    async def record(self, rows: list[dict[str, Any]]) -> None:
        """Hand rows to the writer; in durable mode return only once they are committed."""
        writer = self.writer
        if writer is None:
            return
        if self.settings.log_mode == "async":
            for row in rows:
                writer.add(row)
            return
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[bool]] = []
        for row in rows:
            future: asyncio.Future[bool] = loop.create_future()
            waits.append(future)

            def done(ok: bool, future: asyncio.Future[bool] = future) -> None:
                loop.call_soon_threadsafe(_resolve, future, ok)

            writer.add(row, on_commit=done)
        try:
            results = await asyncio.wait_for(asyncio.gather(*waits), self.settings.durable_timeout_s)
        except TimeoutError:
            raise LogUnavailable("the request log did not commit in time; the prediction was not recorded") from None
        if not all(results):
            raise LogUnavailable("the request log could not record this prediction")


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():  # the request may have timed out already
        future.set_result(ok)
