"""`zh-jieba-v1`: Chinese as words, segmented by jieba's dictionary.

`cjk-v1` reads a Chinese text as characters and bigrams: ~125 tokens for 73 characters, where English
of the same length is ~17, and the BiLSTM's cost follows the tokens. A word segmenter reads the same
text in ~45 tokens ("这部电影太无聊了" -> 这部 电影 太 无聊 了). jieba is pure Python with its
dictionary in the wheel (MIT); it is used without its HMM guesser of new words, so every token is a
dictionary word or a single character, the vocabulary stays bounded and a word the model never saw
falls apart into characters it may know.

The text is normalised exactly as `regex-word-v1` does it (HTML, NFKC, lower case, "n't",
punctuation runs). A run of Han characters is segmented by jieba; Kana, Hangul and Thai read as in
`cjk-v1` (characters and bigrams); everything else as in `regex-word-v1`, so a text without any of
these scripts gives exactly `regex-word-v1`'s tokens. A word's span covers the characters typed for it.

jieba's dictionary loads on the first Chinese text (~1.5 s, once per process; `warm()` does it ahead,
e.g. when a model that reads with this tokenizer loads).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

from model.offsets import TokenSpan, aligned_spans, normalize_with_offsets
from model.tokenizer import normalize
from model.tokenizers import cjk

if TYPE_CHECKING:
    import jieba

# Han (extension A, unified, compatibility, extensions B onward) and 々〆〇: what jieba segments.
_HAN = re.compile("[\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")

_lock = threading.Lock()
_segmenter: jieba.Tokenizer | None = None


def warm() -> jieba.Tokenizer:
    """Load jieba's dictionary once per process (thread-safe) and return the segmenter."""
    global _segmenter
    with _lock:
        if _segmenter is None:
            import jieba

            logging.getLogger("jieba").setLevel(logging.WARNING)  # its "Building prefix dict" chatter
            segmenter = jieba.Tokenizer()
            segmenter.initialize()
            _segmenter = segmenter
        return _segmenter


def tokenize(text: str) -> list[str]:
    """Split `text` into zh-jieba-v1 tokens; deterministic and never raises on a str."""
    return cjk.tokens_of(text, _read)


def tokenize_with_offsets(text: str) -> list[TokenSpan]:
    """Return `tokenize(text)`'s tokens, each with its span in `text`."""
    return aligned_spans(text, normalize_with_offsets, normalize, tokenize, _read)


def _read(normal: str) -> list[tuple[str, int, int]]:
    """Tokens of a normalised string, each with the span of `normal` it stands for."""
    return cjk.read_runs(normal, _run)


def _run(run: str) -> list[tuple[str, int, int]]:
    """A run of CJK / Thai: jieba's words for Han, cjk-v1's characters and bigrams for the rest."""
    out: list[tuple[str, int, int]] = []
    at = 0
    for han in _HAN.finditer(run):
        out.extend(_not_han(run, at, han.start()))
        out.extend(_words(run, han.start(), han.end()))
        at = han.end()
    out.extend(_not_han(run, at, len(run)))
    return out


def _words(normal: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """jieba's dictionary words of the Han run normal[start:end]; they cover it exactly, in order."""
    out: list[tuple[str, int, int]] = []
    at = start
    for word in warm().cut(normal[start:end], HMM=False):
        out.append((word, at, at + len(word)))
        at += len(word)
    return out


def _not_han(normal: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """Kana, Hangul or Thai between Han runs: characters and bigrams, as cjk-v1 reads them."""
    if start >= end:
        return []
    return [(token, start + a, start + b) for token, a, b in cjk._characters_and_bigrams(normal[start:end])]
