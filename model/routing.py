"""Which of several models reads a text, by its language: the one rule the service and bulk scoring share.

Each model states the language it reads (config.json `language`) or none (it reads any text). Given
the languages of the candidate models, in order of preference (the default first):

1. a named language (not "auto") skips identification: the model of that language, else one that
   states none, else the text is unsupported (`index` None);
2. when no candidate states a language nothing is identified: the first reads it (`language` None);
3. else the text is identified (`model.language.detect`) and the model of its language reads it;
4. else, when the identifier has no idea (below LIKELY, 0.5: "lol", "10/10", emoji, most texts of a
   few words), the first model reads it, as its language: short English texts are where
   identification fails (BENCHMARKS.md, "Language identification");
5. else a model that states no language reads it;
6. else, when the identifier leans to another language but is not sure (below `sure`), the first
   model answers, flagged unsupported: refusing would turn away about 0.2% of English texts;
7. else the text is unsupported (`index` None): the caller refuses it or answers as in 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.language import UNDETERMINED, detect

AUTO = "auto"
LIKELY = 0.5  # below this, the identifier's top language is no evidence at all
SURE = 0.95  # at or above this, a language no model reads is refused (SENTIMENT_LANGUAGE_CONFIDENCE)


@dataclass(frozen=True)
class Choice:
    index: int | None  # the candidate that reads the text; None: surely no candidate reads its language
    language: str | None  # the language it is read as (named, detected, or the model's); None: none stated
    supported: bool = True  # False: a best-effort answer (by candidate 0) for a language no candidate reads
    confidence: float | None = None  # the identifier's, where it was asked


def choose(text: str, languages: Sequence[str | None], *, language: str | None = None, sure: float = SURE) -> Choice:
    """Pick the candidate for `text` among models reading `languages` (one entry each, the default first)."""
    if not languages:
        raise ValueError("no candidate models")
    if language is not None and language != AUTO:
        found = _reader(languages, language)
        return Choice(found, language) if found is not None else Choice(None, language, supported=False)
    if all(code is None for code in languages):
        return Choice(0, None)
    detected, confidence = detect(text)
    if detected in languages:
        return Choice(languages.index(detected), detected, confidence=confidence)
    if detected == UNDETERMINED or confidence < LIKELY:
        return Choice(0, languages[0], confidence=confidence)
    if None in languages:
        return Choice(languages.index(None), detected, confidence=confidence)
    if confidence < sure:
        return Choice(0, detected, supported=False, confidence=confidence)
    return Choice(None, detected, supported=False, confidence=confidence)


def _reader(languages: Sequence[str | None], language: str) -> int | None:
    """The model of `language`, else one that states no language, else None."""
    for wanted in (language, None):
        if wanted in languages:
            return languages.index(wanted)
    return None
