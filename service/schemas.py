"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

EXPLAIN = (
    "add `explanation`: one signed weight per token toward the predicted label, with character offsets into the "
    "text as sent (texts the model reads at most SENTIMENT_MAX_EXPLAIN_TOKENS tokens of; 413 beyond)"
)
SENTENCES = (
    "add `sentences`: the text split into sentences, each with offsets and its own prediction, and `mixed`: "
    "whether one sentence is clearly positive and another clearly negative"
)
POLARITY = (
    "signed strength in [-1, 1]: the model's estimate of the mean human rating / 4 (the scale of VADER's compound "
    "and Google's score); the artifact's polarity head, or p(positive) - p(negative) for a model without one"
)
MIXED = (
    "present only when the request asked `sentences`: true when one sentence has polarity >= 0.5 and another "
    "<= -0.5 (model/sentences.py `is_mixed`)"
)


# What a text must be, as the schema says it (the routes check it, `check_text`): at least one
# character that is not whitespace, no NUL; `maxLength` is set per app (service/openapi.py).
# "Whitespace" as Python's str.isspace (what check_text strips), written out: a pattern's \s (ECMAScript's)
# lacks \x1c-\x1f and \x85 and has \ufeff, so a text of only "\x1e" would be schema-valid and refused.
_SPACE = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_SCHEMA: dict[str, Any] = {"minLength": 1, "pattern": rf"^[^\u0000]*[^{_SPACE}\u0000][^\u0000]*$"}
MODEL = (
    "the served model to ask, by name (`GET /v1/models`); default: the model of the text's language, else the "
    "default model (SENTIMENT_DEFAULT_MODEL)"
)
LANGUAGE = (
    "the text's language as an ISO 639-1 code (`en`, `zh`): the model of that language reads it; `auto` (default): "
    "detected per text (service/routing.py)"
)
UNSUPPORTED = (
    "a text in a language no served model reads: `refuse` (422 `unsupported_language`) or `answer` (the default "
    "model's best effort, flagged `supported: false`); default: SENTIMENT_UNSUPPORTED_LANGUAGE"
)
LANGUAGE_PATTERN = r"^(auto|[a-z]{2,3})$"


class SentimentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "A wonderful film."}, {"text": "Great cast. Awful script.", "explain": True}]
        },
    )
    text: str = Field(
        description="the text to classify (non-empty, at most SENTIMENT_MAX_TEXT_CHARS characters)",
        json_schema_extra=TEXT_SCHEMA,  # checked by routes.check_text, with its own error codes
    )
    # Strict: JSON true/false only (lax mode would take 0, 1, "yes": the schema says boolean).
    explain: StrictBool = Field(False, description=EXPLAIN)
    sentences: StrictBool = Field(False, description=SENTENCES)
    model: str | None = Field(None, max_length=64, description=MODEL)
    language: str | None = Field(None, pattern=LANGUAGE_PATTERN, description=LANGUAGE)
    unsupported_language: Literal["refuse", "answer"] | None = Field(None, description=UNSUPPORTED)


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"texts": ["A wonderful film.", "Dull and far too long."]}]}
    )
    texts: list[str] = Field(
        description="texts to classify, at most SENTIMENT_MAX_BATCH_ITEMS",
        # An empty or over-long text in a batch is answered in its place (an error entry), not
        # refused with the request: its items are plain strings here.
        json_schema_extra={"minItems": 1},
    )
    explain: StrictBool = Field(False, description=EXPLAIN + "; applies to every text")
    sentences: StrictBool = Field(False, description=SENTENCES + "; applies to every text")
    model: str | None = Field(None, max_length=64, description=MODEL)
    language: str | None = Field(None, pattern=LANGUAGE_PATTERN, description=LANGUAGE)
    unsupported_language: Literal["refuse", "answer"] | None = Field(None, description=UNSUPPORTED)


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class TokenAttribution(BaseModel):
    text: str = Field(description="the token as the model reads it (normalised: lower case, HTML removed, ...)")
    start: int = Field(description="offset of its first character in the text as sent (Python str index)")
    end: int = Field(description="offset after its last character: text[start:end] is what was typed")
    weight: float = Field(
        description="drop in the predicted label's probability when this token is left out: > 0 supports the "
        "label, < 0 speaks against it; 0 for tokens the model does not read (the middle of a truncated text)"
    )


class Explanation(BaseModel):
    method: str = Field(description="how the weights were computed: `occlusion` (leave one token out)")
    tokens: list[TokenAttribution] = Field(description="every token of the text, in order")


class SentenceSentiment(BaseModel):
    start: int = Field(description="offset of the sentence's first character in the text as sent")
    end: int = Field(description="offset after its last character")
    label: str
    score: float
    probabilities: dict[str, float]
    polarity: float = Field(description="the sentence's signed strength in [-1, 1], as the text's `polarity`")


class Sentiment(BaseModel):
    label: str = Field(description="the most probable label")
    score: float = Field(description="probability of `label`")
    probabilities: dict[str, float] = Field(description="probability of each label; they sum to 1")
    polarity: float = Field(description=POLARITY)
    tokens_used: int = Field(description="tokens the model read")
    tokens_total: int = Field(description="tokens in the text")
    truncated: bool = Field(description="true when the model read only part of the text")
    language: str | None = Field(
        description="the language the text was read as: named by the request, detected, or (when detection was "
        "unsure) the model's; null when no served model states a language"
    )
    supported: bool = Field(
        description="false only for a best-effort answer to a text in a language no served model reads"
    )
    explanation: Explanation | None = Field(None, description="present only when the request asked `explain`")
    mixed: bool | None = Field(None, description=MIXED)
    sentences: list[SentenceSentiment] | None = Field(
        None, description="present only when the request asked `sentences`; in order, covering the text"
    )


PRECISION = "the arithmetic of the forward pass that answered: fp32, int8 or bf16 (SENTIMENT_PRECISION)"


class SentimentResponse(Sentiment):
    model: str = Field(description="the name of the model that answered")
    model_version: str
    precision: str = Field(description=PRECISION)
    request_id: str


class BatchSentiment(Sentiment):
    model: str = Field(description="the name of the model that read this text (texts are routed one by one)")
    model_version: str
    precision: str = Field(description=PRECISION)


class BatchItemError(BaseModel):
    error: ErrorDetail


class BatchResponse(BaseModel):
    results: list[BatchSentiment | BatchItemError] = Field(description="one entry per text, in order")
    model: str = Field(
        description="the model the request named, else the default model; each result names the one that read it"
    )
    model_version: str
    precision: str = Field(description=PRECISION)
    request_id: str


class ModelInfo(BaseModel):
    name: str = Field(description="the model's name, the same on v1, OIP (/v2/models/NAME), the log and the client")
    artifact: str = Field(description="the artifact's directory name (where it lies on the server: the start-up log)")
    version: str
    labels: list[str]
    max_batch_items: int = Field(description="most texts one batch request may carry (SENTIMENT_MAX_BATCH_ITEMS)")
    config: dict[str, Any]
    metrics: dict[str, Any]
    runtime: str = Field(description="the inference runtime: onnx (ONNX Runtime) or torch (SENTIMENT_RUNTIME)")
    precision: str = Field(description="the arithmetic that serves: fp32, int8 or bf16 (SENTIMENT_PRECISION)")
    precision_note: str = Field(description="how the precision was chosen; for auto, its self-check against fp32")
    replica: str = Field(description="host:pid of the process that answered (one per worker and replica)")


class ModelSummary(BaseModel):
    name: str = Field(description="what a request's `model` names; /v2/models/NAME on the Open Inference Protocol")
    version: str = Field(description="the hash of the weights served now")
    labels: list[str]
    language: str | None = Field(description="the artifact's `language` when its config.json records one, else null")
    max_tokens: int = Field(description="tokens of a text the model reads (longer texts: head and tail)")
    precision: str = Field(description="the arithmetic that serves: fp32, int8 or bf16 (SENTIMENT_PRECISION)")
    default: bool = Field(description="true for the model a request without `model` gets")


class ModelList(BaseModel):
    models: list[ModelSummary] = Field(description="every served model, the default first")


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
    model: str | None = Field(None, description="the model's name; null on rows from before named models")
    language: str | None = Field(None, description="the language the text was read as; null when none was stated")
    role: Literal["primary", "canary", "shadow"] = Field(
        "primary",
        description="primary: the model's answer; canary: its candidate's answer; shadow: the candidate's score "
        "of a text the primary answered (never sent)",
    )


class LogRows(BaseModel):
    rows: list[LogRow]
    count: int


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_dir: str | None = Field(
        None, description="artifact directory to serve, on every replica; default: each one's configured artifact"
    )
    model: str | None = Field(
        None, max_length=64, description="the model to reload, by name; default: the default model"
    )


class ReloadResponse(BaseModel):
    model: str = Field(description="the model reloaded")
    previous_version: str
    version: str
    changed: bool
    rollout_id: int | None = Field(None, description="the rollout row every replica follows; null if not recorded")
    rollout_error: str | None = Field(None, description="why the rollout could not be recorded")


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
