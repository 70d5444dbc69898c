"""Which language a text is written in: py3langid's naive Bayes over byte n-grams (97 languages).

py3langid (BSD-3) is langid.py (Lui & Baldwin 2012) with its model in the wheel as a NumPy archive
(no pickle, no network). Its probabilities are normalised with a length-aware temperature, so a
short text gets a low confidence instead of a confident guess: "lol" or "10/10" is not reliably any
language, and a caller that refuses unsupported languages should refuse only above a confidence
(BENCHMARKS.md "Chinese (issue 22)" measures the false refusals of English texts per threshold).
A text with nothing to read (emoji, digits, punctuation only) answers ("und", 0.0).

py3langid names Wu (wuu) and Cantonese (yue) apart from zh; they are languages of the zh
macrolanguage, written with the same characters, and on Chinese reviews they are what a short
Mandarin text is mistaken for, so a text it reads as either is zh (with that probability: summing the three
would tip near-uniform guesses on short English texts, "ok", towards zh). Its zxx ("no linguistic
content") is "und".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

UNDETERMINED = "und"  # BCP 47's code for "not determined"
# Characters of a text the identifier reads: its cost grows with the bytes it walks (pure Python), and
# a language shows in its first few sentences (BENCHMARKS.md "Language identification").
DETECT_CHARS = 400
_FOLD = {"wuu": "zh", "yue": "zh", "zxx": UNDETERMINED}

_lock = threading.Lock()
_identifier: LanguageIdentifier | None = None


def warm() -> None:
    """Load the identifier's model now (about 3 s) rather than on the first text."""
    _model()


def _model() -> LanguageIdentifier:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect(text: str) -> tuple[str, float]:
    """Return (ISO 639-1 code, probability in [0, 1]) for `text` (its first DETECT_CHARS characters);
    ("und", 0.0) where nothing is readable."""
    text = text[:DETECT_CHARS]
    if not any(c.isalpha() for c in text):
        return UNDETERMINED, 0.0
    language, confidence = _model().classify(text)
    return _FOLD.get(language, language), float(confidence)
