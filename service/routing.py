"""Which served model reads a text: the one a request names, the one of the language it names, or the
one of the language detected in the text (`model.language`, py3langid), and what becomes of a text in
a language no served model reads.

Each model's language is its artifact's `language` (config.json). A model that states none reads any
text: with no such statement anywhere nothing is detected (no cost, `language` null), as before.

For `"language": "auto"` (the default), per text:
1. the served model of the detected language reads it (among the models the request may use: the
   one it names, else all, the default first);
2. else, when the identifier has no idea (below LIKELY, 0.5: "lol", "10/10", emoji, most texts of a
   few words), the default model reads it, as its language: short English texts are where
   identification fails (BENCHMARKS.md measures it);
3. else a model that states no language reads it;
4. else, when the identifier leans to another language but is not sure (below
   SENTIMENT_LANGUAGE_CONFIDENCE), the default model answers, flagged `supported: false` with the
   language it leans to: refusing would turn away about 0.2% of English texts;
5. else it is unsupported: refused (422 `unsupported_language`) or, when asked, answered as in 4.
A named language skips detection: the model of that language, else one that states none, else
unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.language import UNDETERMINED, detect
from service.errors import NotReady, UnsupportedLanguage
from service.served import ServedModel
from service.state import ServiceState

AUTO = "auto"
LIKELY = 0.5  # below this, the identifier's top language is no evidence at all


@dataclass(frozen=True)
class Route:
    served: ServedModel  # the model that reads the text
    language: str | None  # the language it is read as (named, detected, or the model's); None: nobody states one
    supported: bool = True  # False: a best-effort answer for a language no served model reads


def language_of(served: ServedModel) -> str | None:
    """The language the model's artifact says it reads (None: not stated, any text)."""
    return served.predictor.artifact.config.language


def routes_by_language(service: ServiceState) -> bool:
    """Whether some served model states its language (then texts are identified, and the identifier is warmed)."""
    return any(language_of(served) is not None for served in service.models.values())


def route(
    service: ServiceState,
    text: str,
    *,
    model: str | None = None,
    language: str | None = None,
    unsupported: Literal["refuse", "answer"] | None = None,
) -> Route:
    """Pick the model for one checked text; raises `UnsupportedLanguage`, `ModelNotFound` or `NotReady`."""
    if model is not None:
        candidates = [service.model(model)]
    else:
        candidates = list(service.models.values())  # the default first
        if not candidates:
            raise NotReady("the model is not loaded yet")
    reads = [(served, language_of(served)) for served in candidates]
    default, default_language = reads[0]
    if language is not None and language != AUTO:
        served = _reader(reads, language)
        if served is not None:
            return Route(served, language)
        return _unsupported(service, reads, language, None, unsupported)
    if all(code is None for _, code in reads):
        return Route(default, None)
    detected, confidence = detect(text)
    served = next((s for s, code in reads if code == detected), None)
    if served is not None:
        return Route(served, detected)
    if detected == UNDETERMINED or confidence < LIKELY:
        return Route(default, default_language)
    served = next((s for s, code in reads if code is None), None)
    if served is not None:
        return Route(served, detected)
    if confidence < service.settings.language_confidence:
        return Route(default, detected, supported=False)
    return _unsupported(service, reads, detected, confidence, unsupported)


def _reader(reads: list[tuple[ServedModel, str | None]], language: str) -> ServedModel | None:
    """The model of `language`, else one that states no language, else None."""
    for wanted in (language, None):
        served = next((s for s, code in reads if code == wanted), None)
        if served is not None:
            return served
    return None


def _unsupported(
    service: ServiceState,
    reads: list[tuple[ServedModel, str | None]],
    language: str,
    confidence: float | None,
    unsupported: Literal["refuse", "answer"] | None,
) -> Route:
    if (unsupported or service.settings.unsupported_language) == "answer":
        return Route(reads[0][0], language, supported=False)
    served = ", ".join(f"{code} ({s.name})" for s, code in reads if code is not None)
    how = f"reads as {language!r} (confidence {confidence:.2f})" if confidence is not None else f"is {language!r}"
    raise UnsupportedLanguage(
        f"the text {how}, a language no served model reads; served: {served}. "
        'Send "unsupported_language": "answer" for a best-effort answer flagged "supported": false',
        language=language,
    )
