"""Bodies of the feedback, stats and review routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"request_id": "3f2a9c01", "item_index": 0, "label": "negative"}]},
    )
    request_id: str = Field(min_length=1, max_length=128, description="the request id of the logged prediction")
    item_index: int = Field(
        0, ge=0, le=2**31 - 1, description="the text's position in its request (0 for /v1/sentiment)"
    )  # le: the log column is a 32-bit integer; a larger one is refused (422), never a database error
    label: str = Field(min_length=1, max_length=64, description="the true label; one of the served model's labels")
    note: str | None = Field(None, max_length=2000, description="free text kept with the answer")


class FeedbackResponse(BaseModel):
    request_id: str
    item_index: int
    label: str
    note: str | None
    predicted_label: str = Field(description="what the model answered for this item")
    model_version: str | None = Field(description="the model version that answered")
    created_at: datetime = Field(description="first answer for this item (UTC)")
    updated_at: datetime = Field(description="latest answer for this item (UTC); the latest wins")


class StatsWindow(BaseModel):
    start: datetime
    end: datetime
    interval_s: int = Field(description="length of one point of requests.series")
    model_version: str | None
    model: str | None = Field(None, description="the model filtered on (its rows are read from the raw log)")


class SeriesPoint(BaseModel):
    t: datetime = Field(description="start of the interval (UTC)")
    count: int
    errors: int


class Requests(BaseModel):
    total: int = Field(description="logged texts in the window (one per text of a batch)")
    errors: int = Field(description="of those, the ones answered with an error (status >= 400)")
    series: list[SeriesPoint]


class Histogram(BaseModel):
    edges: list[float] = Field(description="bin edges; bin i is [edges[i], edges[i+1]); the last bin holds the rest")
    counts: list[int]


class UnknownTokenRate(Histogram):
    mean: float | None = Field(description="mean per text of unknown tokens / tokens")


class BatchSizes(Histogram):
    mean: float | None


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class ClassScores(BaseModel):
    precision: float | None
    recall: float | None
    support: int = Field(description="feedback rows whose true label is this one")


class Confusion(BaseModel):
    labels: list[str]
    matrix: list[list[int]] = Field(description="matrix[true][predicted], in the order of labels")


class VersionFeedback(BaseModel):
    model_version: str | None
    count: int
    accuracy: float | None
    per_class: dict[str, ClassScores]
    confusion: Confusion


class FeedbackStats(BaseModel):
    count: int = Field(description="feedback rows on predictions made in the window")
    accuracy: float | None
    by_version: list[VersionFeedback]


class TimeRange(BaseModel):
    start: datetime
    end: datetime


class FeatureDrift(BaseModel):
    distance: float | None = Field(description="Jensen-Shannon distance (base 2); null below min_rows")
    drift: bool
    reference_rows: int
    current_rows: int


class Drift(BaseModel):
    reference: TimeRange | None
    method: str
    threshold: float
    min_rows: int = Field(description="rows each window needs before a distance is given")
    drift: bool = Field(description="true when any feature drifted")
    features: dict[str, FeatureDrift] = Field(
        description="label_mix, language_mix (texts per language, refused ones included), score, text_length, "
        "unknown_token_rate"
    )


class RollupStatus(BaseModel):
    until: datetime | None = Field(
        description="every minute before this time is read from the stats rollup (null: none, or the rollup is off); "
        "later rows and the partial minutes at the window's edges come from the log"
    )
    minutes_read: int = Field(description="whole minutes of this window read from the rollup")


class Stats(BaseModel):
    window: StatsWindow
    requests: Requests
    labels: dict[str, int]
    score_histogram: Histogram
    text_length: Histogram
    unknown_token_rate: UnknownTokenRate
    latency_ms: Percentiles
    queue_wait_ms: Percentiles
    batch_size: BatchSizes
    errors_by_code: dict[str, int]
    languages: dict[str, int] = Field(
        description="texts per language they were read as (refused ones under the language detected); texts of "
        "models that state no language are not counted"
    )
    feedback: FeedbackStats
    drift: Drift
    rollup: RollupStatus


class ReviewItem(BaseModel):
    request_id: str
    item_index: int
    created_at: datetime
    text: str | None = Field(description="null when the log keeps only hashes (SENTIMENT_LOG_TEXT=hash or none)")
    text_sha256: str | None
    label: str
    score: float
    model_version: str | None
    model: str | None = Field(None, description="the model's name; null on rows from before named models")
    client_key_id: str | None
    feedback_label: str | None = Field(description="the stored true label, null when none was given")


class ReviewQueue(BaseModel):
    items: list[ReviewItem] = Field(description="least confident first")
    text_logged: bool = Field(description="false when this service logs no texts (SENTIMENT_LOG_TEXT=hash or none)")
