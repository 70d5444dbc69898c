"""Bodies of the candidate admin calls and of `GET /v1/models/{name}/compare`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ReloadResponse


class CandidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_dir: str = Field(
        min_length=1, max_length=4096, description="the candidate's artifact directory, the same path on every replica"
    )
    shadow_percent: float = Field(
        100.0, ge=0, le=100, description="share of the model's requests the candidate scores after the answer"
    )
    canary_percent: float = Field(
        0.0, ge=0, le=100, description="share of clients (by key; by request when open) the candidate answers"
    )


class CandidateInfo(BaseModel):
    model_dir: str | None
    version: str | None
    shadow_percent: float
    canary_percent: float
    id: int | None = Field(description="its row in the candidates table; null when only this replica's setting")
    requested_by: str | None


class CandidateState(BaseModel):
    model: str
    serving_version: str = Field(description="the primary version this replica serves")
    candidate: CandidateInfo | None = Field(description="the candidate this replica runs; null: none")
    row_id: int | None = Field(description="the newest candidates row of this model this replica has acted on")
    error: str | None = Field(description="why this replica does not run that row's candidate")
    poll_error: str | None = Field(description="the last failure to read the candidates table")
    shadow_queue: int = Field(description="texts waiting in this replica's shadow lane (every model)")


class PromoteResponse(BaseModel):
    rollout: ReloadResponse = Field(description="the rollout of the candidate, which every replica follows")
    candidate: CandidateState = Field(description="the model afterwards: the candidate stopped")


class Agreement(BaseModel):
    pairs: int = Field(description="texts scored by both (a shadow row and its primary row)")
    agreed: int
    rate: float | None


class AgreementAll(Agreement):
    by_label: dict[str, Agreement] = Field(description="by the primary's label")


class Scored(BaseModel):
    label: str | None
    score: float | None
    model_version: str | None


class Disagreement(BaseModel):
    request_id: str
    item_index: int
    created_at: datetime
    text: str | None = Field(description="null unless SENTIMENT_LOG_TEXT=full")
    primary: Scored
    candidate: Scored


class Latency(BaseModel):
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class OnBoth(BaseModel):
    count: int = Field(description="feedback rows on texts both scored")
    primary_correct: int
    candidate_correct: int
    primary_accuracy: float | None
    candidate_accuracy: float | None


class ServedAccuracy(BaseModel):
    count: int
    accuracy: float | None


class CompareFeedback(BaseModel):
    on_both: OnBoth
    served: dict[str, ServedAccuracy] = Field(description="primary and canary, each on the feedback of its own answers")


class Compare(BaseModel):
    model: str
    start: datetime
    end: datetime
    primary_version: str = Field(description="the version this replica serves now")
    candidate_version: str | None = Field(description="the candidate compared (null: every candidate in the window)")
    agreement: AgreementAll
    disagreements: list[Disagreement] = Field(description="most confident first (both scores high)")
    latency_ms: dict[str, Latency] = Field(
        description="per role: primary and canary rows, the request's latency; shadow rows, the candidate's forward "
        "pass (its lane's wait apart)"
    )
    feedback: CompareFeedback
