"""`cjk-v1`: scripts written without spaces between words, as characters and character bigrams.

Chinese, Japanese and Thai put no space between words, so the English word rules read a whole
sentence as one token ("这部电影太无聊了" -> one unknown word). Here the text is normalised exactly
as `regex-word-v1` does it (HTML, NFKC, lower case, "n't", punctuation runs); then each run of Han,
Kana, Hangul or Thai characters reads as its characters, each followed by the bigram it starts:
"太无聊了" -> 太 太无 无 无聊 聊 聊了 了. Characters plus bigrams is the classic strong baseline for
Chinese sentiment (a segmenter such as jieba brings a dictionary, a model file and ~10x the cost);
a bigram carries most two-character words, a unigram what a bigram the model never saw means.

Anything else reads as in `regex-word-v1`, so mixed text works: "iPhone很好用!" -> iphone 很 很好 好
好用 用 !. A Thai vowel or tone mark stays with the letter it sits on. A text without any of these
scripts gives exactly `regex-word-v1`'s tokens. Offsets: a character's span is what the writer typed
for it, a bigram's covers both characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from model.offsets import TokenSpan, aligned_spans, normalize_with_offsets
from model.tokenizer import _TOKEN as _ENGLISH
from model.tokenizer import normalize

# Thai; Hangul jamo; CJK radicals; 々〆〇; Hiragana, Katakana; Hangul compatibility jamo; Katakana
# extension; Han (extension A, unified, compatibility); Hangul jamo extensions and syllables; Han
# extensions B onward.
_SCRIPTS = (
    "\u0e00-\u0e7f\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003134f"
)
_HAS_SCRIPT = re.compile(f"[{_SCRIPTS}]")
# The marks within those blocks (Thai vowels and tones, kana voicing marks): whatever else
# combines ends a run and reads as its own token, as in regex-word-v1.
_MARK = re.compile("[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u3099\u309a]")  # every mark in _SCRIPTS (a test checks)
_TOKEN = re.compile(rf"n't|(?P<run>[{_SCRIPTS}]+)|[^\W_{_SCRIPTS}]+(?:'[^\W_{_SCRIPTS}]+)?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split `text` into cjk-v1 tokens; deterministic and never raises on a str."""
    return tokens_of(text, _read)


Reader = Callable[[str], list[tuple[str, int, int]]]  # normalised text -> (token, start, end) in it


def tokens_of(text: str, read: Reader) -> list[str]:
    """The tokens `read` finds in normalised `text`; exactly regex-word-v1's where none of these scripts occurs."""
    normal = normalize(text)
    if not _HAS_SCRIPT.search(normal):
        return _ENGLISH.findall(normal)
    return [token for token, _, _ in read(normal)]


def read_runs(normal: str, run: Reader) -> list[tuple[str, int, int]]:
    """Tokens of a normalised string with their spans: regex-word-v1's rules outside runs of these
    scripts, `run(run_text)` inside each run (its spans relative to the run)."""
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(normal):
        start, end = m.span()
        if m.lastgroup != "run":
            out.append((m.group(), start, end))
        else:
            out.extend((token, start + a, start + b) for token, a, b in run(m.group()))
    return out


def tokenize_with_offsets(text: str) -> list[TokenSpan]:
    """Return `tokenize(text)`'s tokens, each with its span in `text`."""
    return aligned_spans(text, normalize_with_offsets, normalize, tokenize, _read)


def _read(normal: str) -> list[tuple[str, int, int]]:
    """Tokens of a normalised string, each with the span of `normal` it stands for."""
    return read_runs(normal, _characters_and_bigrams)


def _characters_and_bigrams(run: str) -> list[tuple[str, int, int]]:
    """Each character of a run (a mark with its letter), followed by the bigram it starts."""
    units = _characters(run, 0, len(run))
    out: list[tuple[str, int, int]] = []
    last = len(units) - 1
    for k, (a, b) in enumerate(units):
        out.append((run[a:b], a, b))
        if k < last:
            c = units[k + 1][1]
            out.append((run[a:c], a, c))
    return out


def _characters(normal: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the characters of normal[start:end], a mark (Thai vowels and tones) with its letter."""
    if not _MARK.search(normal, start, end):  # the common case: one character each
        return [(i, i + 1) for i in range(start, end)]
    units: list[tuple[int, int]] = []
    for i in range(start, end):
        if units and unicodedata.category(normal[i])[0] == "M":
            units[-1] = (units[-1][0], i + 1)
        else:
            units.append((i, i + 1))
    return units
