"""Typed results, mirroring the service's OpenAPI schema (unknown fields are ignored)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TokenWeight:
    text: str
    start: int  # character offsets into the original text
    end: int
    weight: float  # signed toward the predicted label


@dataclass(frozen=True)
class Explanation:
    method: str
    tokens: list[TokenWeight]


@dataclass(frozen=True)
class SentencePrediction:
    start: int  # character offsets into the original text
    end: int
    label: str
    score: float
    probabilities: dict[str, float]
    polarity: float | None = None  # as `Prediction.polarity`; None from a server too old to say


@dataclass(frozen=True)
class Prediction:
    """One text's answer; `request_id` and `item_index` name it for `feedback()`."""

    label: str
    score: float  # probability of `label`
    probabilities: dict[str, float]  # of every label, in the model's order; they sum to 1
    tokens_used: int
    tokens_total: int
    truncated: bool
    model_version: str
    request_id: str
    item_index: int = 0  # position in its HTTP request (batch calls are split into several)
    explanation: Explanation | None = None  # with explain=True
    sentences: list[SentencePrediction] | None = None  # with sentences=True
    # Signed strength in [-1, 1], the model's estimate of the mean human rating / 4; None from a
    # server too old to say.
    polarity: float | None = None
    # With sentences=True: one sentence clearly positive and another clearly negative.
    mixed: bool | None = None
    model: str | None = None  # the name of the model that answered; None from a server before named models
    language: str | None = None  # the language it was read as; None where no served model states one
    supported: bool | None = None  # False: a best-effort answer for a language no served model reads


@dataclass(frozen=True)
class ItemError:
    """A batch text the service refused (empty, too long, ...); the other texts are still answered."""

    code: str
    message: str
    request_id: str | None
    item_index: int


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    labels: list[str]
    max_batch_items: int | None  # None from a server too old to say
    path: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact: str | None = None  # the artifact's directory name; None from a server before named models


@dataclass(frozen=True)
class ModelSummary:
    """One served model, as `GET /v1/models` lists it; pass `name` as `model=` to any call."""

    name: str
    version: str
    labels: list[str]
    language: str | None
    max_tokens: int
    default: bool


@dataclass(frozen=True)
class Feedback:
    request_id: str
    item_index: int
    label: str
    note: str | None
    predicted_label: str
    model_version: str | None
    created_at: datetime
    updated_at: datetime


def _explanation(data: dict[str, Any] | None) -> Explanation | None:
    if data is None:
        return None
    tokens = [TokenWeight(t["text"], t["start"], t["end"], t["weight"]) for t in data.get("tokens", [])]
    return Explanation(method=data["method"], tokens=tokens)


def _sentences(data: list[dict[str, Any]] | None) -> list[SentencePrediction] | None:
    if data is None:
        return None
    return [
        SentencePrediction(s["start"], s["end"], s["label"], s["score"], s["probabilities"], s.get("polarity"))
        for s in data
    ]


def prediction(
    data: dict[str, Any], *, model_version: str, request_id: str, item_index: int, model: str | None = None
) -> Prediction:
    return Prediction(
        label=data["label"],
        score=data["score"],
        probabilities=data["probabilities"],
        tokens_used=data["tokens_used"],
        tokens_total=data["tokens_total"],
        truncated=data["truncated"],
        model_version=data.get("model_version", model_version),
        request_id=data.get("request_id", request_id),
        item_index=item_index,
        explanation=_explanation(data.get("explanation")),
        sentences=_sentences(data.get("sentences")),
        polarity=data.get("polarity"),
        mixed=data.get("mixed"),
        model=data.get("model", model),
        language=data.get("language"),
        supported=data.get("supported"),
    )


def batch_results(document: dict[str, Any]) -> list[Prediction | ItemError]:
    """The results of one `/v1/sentiment/batch` answer, in order."""
    version, request_id = document["model_version"], document["request_id"]
    results: list[Prediction | ItemError] = []
    for i, item in enumerate(document["results"]):
        if "error" in item:
            error = item["error"]
            results.append(ItemError(error["code"], error["message"], error.get("request_id"), i))
        else:
            results.append(
                prediction(
                    item, model_version=version, request_id=request_id, item_index=i, model=document.get("model")
                )
            )
    return results


def model_info(data: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        name=data["name"],
        version=data["version"],
        labels=list(data["labels"]),
        max_batch_items=data.get("max_batch_items"),
        path=data.get("path", ""),
        config=data.get("config", {}),
        metrics=data.get("metrics", {}),
        artifact=data.get("artifact"),
    )


def model_list(data: dict[str, Any]) -> list[ModelSummary]:
    return [
        ModelSummary(m["name"], m["version"], list(m["labels"]), m.get("language"), m["max_tokens"], m["default"])
        for m in data["models"]
    ]


def feedback(data: dict[str, Any]) -> Feedback:
    return Feedback(
        request_id=data["request_id"],
        item_index=data["item_index"],
        label=data["label"],
        note=data.get("note"),
        predicted_label=data["predicted_label"],
        model_version=data.get("model_version"),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )
