"""`ServiceState`: what the app holds while it runs (settings, the named models each behind its batcher, the
log writer). Not the inference runtime (ONNX Runtime or torch), which each `Predictor` names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from model import Predictor, load_predictor
from service.auth import KeyChecker
from service.batcher import MicroBatcher
from service.candidate.candidates import Candidates
from service.config import Settings
from service.errors import ModelNotFound, NotReady
from service.explain_budget import ExplainBudget
from service.log import RequestLogWriter
from service.log.recorder import RequestRecorder
from service.metrics import ServiceMetrics
from service.served import ServedModel


def load_configured_predictor(settings: Settings, model_dir: Path | None = None) -> Predictor:
    """Load `model_dir`, else the artifact the settings name (else the shipped model), batched as configured."""
    return load_predictor(
        model_dir or settings.model_dir,
        batch_size=settings.max_batch_size,
        runtime=settings.runtime,
        threads=settings.inference_threads,
        precision=settings.precision,
    )


class ServiceState:
    """The app's state (`app.state.service`): settings, keys, metrics, the served models, the log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = ServiceMetrics()
        self.keys = KeyChecker(settings.api_keys, settings.admin_keys)
        self.models: dict[str, ServedModel] = {}  # filled at start, the default first (Settings.served_models)
        self.default_model = settings.default_model_name
        self.recorder = RequestRecorder(
            log_text=settings.log_text, log_mode=settings.log_mode, durable_timeout_s=settings.durable_timeout_s
        )
        self.engine: Engine | None = None
        self.draining = False
        self.candidates = Candidates(self)  # shadow / canary candidates, their lane and poller
        self.recorder.after = self.candidates.offer
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

    def route(self, name: str | None, sticky: str) -> ServedModel:
        """The model a prediction request names, as it answers `sticky` (the client's key id, else the request id):
        its canary candidate for the canary share of keys."""
        return self.candidates.route(self.model(name), sticky)

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

    @property
    def writer(self) -> RequestLogWriter | None:
        """The request log's writer (None before start); the recorder hands it every row."""
        return self.recorder.writer

    @writer.setter
    def writer(self, writer: RequestLogWriter | None) -> None:
        self.recorder.writer = writer

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
