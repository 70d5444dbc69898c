"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SentimentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "A wonderful film."}]})
    text: str = Field(description="the text to classify (non-empty, at most SENTIMENT_MAX_TEXT_CHARS characters)")


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"texts": ["A wonderful film.", "Dull and far too long."]}]}
    )
    texts: list[str] = Field(description="texts to classify, at most SENTIMENT_MAX_BATCH_ITEMS")


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Sentiment(BaseModel):
    label: str = Field(description="the most probable label")
    score: float = Field(description="probability of `label`")
    probabilities: dict[str, float] = Field(description="probability of each label; they sum to 1")
    tokens_used: int = Field(description="tokens the model read")
    tokens_total: int = Field(description="tokens in the text")
    truncated: bool = Field(description="true when the model read only part of the text")


class SentimentResponse(Sentiment):
    model_version: str
    request_id: str


class BatchItemError(BaseModel):
    error: ErrorDetail


class BatchResponse(BaseModel):
    results: list[Sentiment | BatchItemError] = Field(description="one entry per text, in order")
    model_version: str
    request_id: str


class ModelInfo(BaseModel):
    name: str
    version: str
    labels: list[str]
    max_batch_items: int = Field(description="most texts one batch request may carry (SENTIMENT_MAX_BATCH_ITEMS)")
    path: str
    config: dict[str, Any]
    metrics: dict[str, Any]


class LogRow(BaseModel):
    id: int
    created_at: datetime
    request_id: str
    endpoint: str
    item_index: int
    client_key_id: str | None
    text: str | None
    text_sha256: str | None
    text_chars: int
    label: str | None
    score: float | None
    model_version: str | None
    batch_size: int | None
    queue_wait_ms: float | None
    latency_ms: float
    status: int
    error_code: str | None
    explain: bool = False
    sentences: bool = False
    tokens: int | None = None
    unknown_tokens: int | None = None


class LogRows(BaseModel):
    rows: list[LogRow]
    count: int


class ReloadResponse(BaseModel):
    previous_version: str
    version: str
    changed: bool


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
