"""Which served model reads a text: the one a request names, or among all served models (the default
first) the one of the language it names or its text is in, by `model.routing.choose` (the rule,
shared with bulk scoring). Each model's language is its artifact's `language` (config.json); a
model that states none reads any text, and with no statement anywhere nothing is identified.

A text surely in a language no candidate reads is refused (422 `unsupported_language`) or, when the
request or SENTIMENT_UNSUPPORTED_LANGUAGE asks `answer`, answered by the first candidate flagged
`supported: false`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.routing import choose
from service.errors import NotReady, UnsupportedLanguage
from service.served import ServedModel
from service.state import ServiceState


@dataclass(frozen=True)
class Route:
    served: ServedModel  # the model that reads the text
    language: str | None  # the language it is read as (named, detected, or the model's); None: nobody states one
    supported: bool = True  # False: a best-effort answer for a language no served model reads


def language_of(served: ServedModel) -> str | None:
    """The language the model's artifact says it reads (None: not stated, any text)."""
    return served.predictor.artifact.config.language


def route(
    service: ServiceState,
    text: str,
    sticky: str,
    *,
    model: str | None = None,
    language: str | None = None,
    unsupported: Literal["refuse", "answer"] | None = None,
) -> Route:
    """Pick the model for one checked text, and its canary candidate for the canary share of `sticky` (the
    client's key id, else the request id); raises `UnsupportedLanguage`, `ModelNotFound` or `NotReady`."""
    if model is not None:
        candidates = [service.model(model)]
    else:
        candidates = list(service.models.values())  # the default first
        if not candidates:
            raise NotReady("the model is not loaded yet")
    languages = [language_of(served) for served in candidates]
    choice = choose(text, languages, language=language, sure=service.settings.language_confidence)
    if choice.index is not None:
        return Route(service.candidates.route(candidates[choice.index], sticky), choice.language, choice.supported)
    detected = choice.language or ""
    if (unsupported or service.settings.unsupported_language) == "answer":
        return Route(service.candidates.route(candidates[0], sticky), detected, supported=False)
    served = ", ".join(f"{code} ({s.name})" for s, code in zip(candidates, languages, strict=True) if code is not None)
    confidence = choice.confidence
    how = f"reads as {detected!r} (confidence {confidence:.2f})" if confidence is not None else f"is {detected!r}"
    raise UnsupportedLanguage(
        f"the text {how}, a language no served model reads; served: {served}. "
        'Send "unsupported_language": "answer" for a best-effort answer flagged "supported": false',
        language=detected,
    )
