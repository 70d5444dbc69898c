"""Settings: one class, environment prefix SENTIMENT_, `.env` honoured, checked at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model import ZH_MODEL_DIR
from model.routing import SURE

SHIPPED_ZH_NAME = "sentiment-zh"  # the shipped Chinese model's name when no setting names the models
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # safe in a URL path, a log column and a metric label


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", env_file=".env", extra="ignore")

    model_dir: Path | None = Field(
        None, description="artifact directory of the one model served when SENTIMENT_MODELS is empty; empty = shipped"
    )
    models: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description="the models served, NAME=DIR pairs separated by commas (en=model/default,tickets=/models/tickets); "
        "empty = SENTIMENT_MODEL_DIR alone, named SENTIMENT_DEFAULT_MODEL; with that empty too, both shipped models: "
        f"English (named SENTIMENT_DEFAULT_MODEL) and Chinese (`{SHIPPED_ZH_NAME}`), each text routed by its language",
    )
    default_model: str | None = Field(
        None,
        description="the model a request without `model` gets: one of SENTIMENT_MODELS' names (default: the first); "
        "with SENTIMENT_MODELS empty, the one model's name (default: SENTIMENT_OIP_MODEL_NAME, `sentiment`)",
    )
    database_url: str = Field("sqlite:///data/requests.db", description="SQLAlchemy URL of the request log")
    migrate_on_start: bool = Field(
        True, description="upgrade the log schema at start; false = only check it is at head (see `migrate`)"
    )
    database_wait_s: float = Field(
        30.0, ge=0, description="at start, how long to keep retrying an unreachable log database before exiting"
    )
    host: str = Field("127.0.0.1", description="address python -m service binds")
    port: int = Field(8000, ge=1, le=65535, description="port python -m service binds")
    workers: int = Field(1, ge=1, le=256, description="worker processes python -m service runs on its port")
    rollout_poll_s: float = Field(
        2.0, ge=0, description="seconds between two reads of the newest rollout (0 = ignore rollouts)"
    )
    candidates: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description="shadow / canary candidates at start, NAME=DIR pairs (a DIR alone: the default model's); "
        "a candidate recorded in the log database (an admin call) takes precedence",
    )
    shadow_percent: float = Field(
        100.0, ge=0, le=100, description="share of a model's requests its SENTIMENT_CANDIDATES candidate shadows"
    )
    canary_percent: float = Field(
        0.0,
        ge=0,
        le=100,
        description="share of clients (requests when open) its SENTIMENT_CANDIDATES candidate answers",
    )
    shadow_max_queue: int = Field(
        1024, ge=1, description="texts waiting for shadow scoring; beyond it they are dropped and counted"
    )
    max_batch_size: int = Field(32, ge=1, le=1024, description="texts per forward pass")
    max_queue: int = Field(2048, ge=1, description="texts waiting for the model before 503")
    max_text_chars: int = Field(20_000, ge=1, description="longest text accepted, in characters")
    max_explain_tokens: int = Field(
        300, ge=1, description="explain: most tokens the model reads in one text (413 beyond); cost grows as its square"
    )
    explain_pass_tokens: int = Field(
        4096, ge=1, description="explain: tokens of explanation rows one forward pass carries beside plain texts"
    )
    explain_budget_tokens: int = Field(
        0,
        ge=0,
        description="explain: most tokens of forward passes one request's explanations may take (413 beyond); "
        "0 = measured per model: tokens/s x request_timeout_s x 0.5",
    )
    max_batch_items: int = Field(256, ge=1, description="most texts in one batch request")
    max_body_bytes: int = Field(2_000_000, ge=1024, description="largest request body read")
    oip_model_name: str = Field(
        "sentiment",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="the one model's name when neither SENTIMENT_MODELS nor SENTIMENT_DEFAULT_MODEL names it "
        "(kept from before named models: v1, /v2/models/NAME/..., the log and the client all use it)",
    )
    language_confidence: float = Field(
        SURE,
        ge=0.5,
        le=1.0,
        description="a text is refused as `unsupported_language` only when the language identifier is at least this "
        "sure it is in a language no served model reads; below, the default model reads it",
    )
    unsupported_language: Literal["refuse", "answer"] = Field(
        "refuse",
        description="a text in a language no served model reads: `refuse` (422 unsupported_language, or its entry in "
        "a batch) or `answer` with the default model, flagged `supported: false`; a request's own field overrides it",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, description="prediction keys")
    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, description="admin keys")
    console: bool = Field(True, description="serve the web console at /console (its API calls need keys as usual)")
    log_text: Literal["full", "hash", "none"] = Field("full", description="what the log keeps of each text")
    log_mode: Literal["async", "durable"] = Field("async", description="answer before or after the row commits")
    log_flush_ms: int = Field(100, ge=1, le=60_000, description="longest a row waits before it is written")
    log_max_mb: float = Field(0, ge=0, description="SQLite only: cap the log file at this size (0 = no cap)")
    log_max_pending: int = Field(100_000, ge=100, description="rows held while the database is down")
    drift_refresh_s: float = Field(
        60.0, ge=0, description="seconds between refreshes of the drift gauges on /metrics; 0 = off"
    )
    drift_window_s: int = Field(
        3600, ge=60, description="drift gauges: the current window, compared with the one before"
    )
    drift_min_rows: int = Field(1000, ge=1, description="rows each window needs before drift is judged")
    drift_threshold: float = Field(0.1, gt=0, le=1, description="Jensen-Shannon distance at which drift is flagged")
    stats_rollup_s: float = Field(
        30.0,
        ge=0,
        description="seconds between passes of the stats rollup (per-minute and per-hour summaries that /v1/stats "
        "reads for long windows); 0 = off: no passes, /v1/stats reads only the raw log",
    )
    stats_rollup_lag_s: float = Field(
        60.0, ge=0, description="a minute is rolled up once it ended this long ago (rows later still are caught up)"
    )
    log_retention_days: float = Field(
        0,
        ge=0,
        description="delete raw log rows older than this many days, in small batches in the background "
        "(rows the stats rollup has not read and rows unexported feedback points at stay); 0 = keep every row",
    )
    feedback_retention_days: float = Field(
        0,
        ge=0,
        description="log retention deletes a row with feedback not yet exported once that feedback is "
        "this old; 0 = never: it waits for python -m training export-feedback",
    )
    stats_rollup_retention_days: float = Field(
        0,
        ge=0,
        description="delete stats rollup rows (minutes, hours, days) older than this; 0 = keep; "
        "at least SENTIMENT_LOG_RETENTION_DAYS when both are set",
    )
    log_partitions: bool = Field(
        True,
        description="PostgreSQL: create a new (empty) request log partitioned by day, so that retention drops whole "
        "days; a log with rows keeps its layout until python -m service partition-log; false = never partition",
    )
    log_retention_every_s: float = Field(3600.0, gt=0, description="seconds between two log retention passes")
    durable_timeout_s: float = Field(5.0, gt=0, description="durable mode: longest wait for a commit")
    runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="inference runtime; auto = ONNX Runtime when installed, else torch"
    )
    precision: Literal["auto", "fp32", "int8", "bf16"] = Field(
        "fp32",
        description="arithmetic of the forward pass, built at load from the same weights (same model version): "
        "fp32 (the default: a text's answer is the same alone or in any batch), int8 (ONNX Runtime), bf16 (torch); "
        "auto = the fastest this CPU runs well that passed the accuracy gate and agrees with fp32 at load",
    )
    inference_threads: int = Field(0, ge=0, description="intra-op threads of the runtime; 0 = its default")
    request_timeout_s: float = Field(30.0, gt=0, description="longest a request waits for its prediction")
    header_timeout_s: float = Field(
        5.0, gt=0, description="a connection whose request line and headers are not in after this long is closed (408)"
    )
    body_timeout_s: float = Field(
        20.0, gt=0, description="a request whose body is not in this long after its headers is closed (408)"
    )

    @model_validator(mode="after")
    def _rollup_outlives_the_log(self) -> Settings:
        rollup, raw = self.stats_rollup_retention_days, self.log_retention_days
        if rollup and (not raw or rollup < raw):
            raise ValueError(
                f"SENTIMENT_STATS_ROLLUP_RETENTION_DAYS ({rollup:g}) must be at least SENTIMENT_LOG_RETENTION_DAYS "
                f"({raw:g}, 0 = keep every row): /v1/stats reads old windows from the rollup"
            )
        return self

    @field_validator("models", "candidates", mode="before")
    @classmethod
    def _parse_models(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        models: dict[str, str] = {}
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        if info.field_name == "candidates" and len(pairs) == 1 and "=" not in pairs[0]:
            return {"": pairs[0]}  # SENTIMENT_CANDIDATES=DIR: the default model's (named once models are known)
        for pair in pairs:
            name, sep, directory = (part.strip() for part in pair.partition("="))
            if not sep or not name or not directory:
                raise ValueError(f"{pair!r} is not NAME=DIR (e.g. en=model/default,tickets=/models/tickets)")
            if name in models:
                raise ValueError(f"model name {name!r} is given twice")
            models[name] = directory
        return models

    @model_validator(mode="after")
    def _models_are_named_well(self) -> Settings:
        for name in self.models:
            if not MODEL_NAME.fullmatch(name):
                raise ValueError(
                    f"SENTIMENT_MODELS: model name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit"
                )
        if self.models and self.model_dir is not None:
            raise ValueError(
                "SENTIMENT_MODEL_DIR and SENTIMENT_MODELS are both set: name that artifact in SENTIMENT_MODELS instead"
            )
        default = self.default_model
        if default is not None and not MODEL_NAME.fullmatch(default):
            raise ValueError(f"SENTIMENT_DEFAULT_MODEL: {default!r} is not a valid model name")
        if self.models and default is not None and default not in self.models:
            raise ValueError(
                f"SENTIMENT_DEFAULT_MODEL {default!r} is not one of SENTIMENT_MODELS' names: {sorted(self.models)}"
            )
        if "" in self.candidates:  # one directory alone: the default model's candidate
            self.candidates = {self.default_model_name: self.candidates[""]}
        unknown = set(self.candidates) - set(self.served_models())
        if unknown:
            raise ValueError(
                f"SENTIMENT_CANDIDATES names {sorted(unknown)}, not served models: {list(self.served_models())}"
            )
        return self

    def served_models(self) -> dict[str, Path | None]:
        """Each served model's name and artifact directory (None: the shipped model), the default first."""
        if not self.models:
            name = self.default_model or self.oip_model_name
            if self.model_dir is None and name != SHIPPED_ZH_NAME and (ZH_MODEL_DIR / "weights.safetensors").is_file():
                return {name: None, SHIPPED_ZH_NAME: ZH_MODEL_DIR}  # no settings: both shipped models
            return {name: self.model_dir}
        default = self.default_model or next(iter(self.models))
        return {default: self.models[default], **{n: d for n, d in self.models.items() if n != default}}

    @property
    def default_model_name(self) -> str:
        return next(iter(self.served_models()))

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            keys = [k.strip() for k in value.split(",") if k.strip()]
            if any(len(k) < 8 for k in keys):
                raise ValueError("each key must be at least 8 characters")
            return keys
        return value

    @field_validator("model_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy URL: {exc}") from None
        return value
