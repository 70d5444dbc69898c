"""`social-v1`: the English word rules, plus what tweets and chat carry.

Read the same way as `regex-word-v1` (HTML entities, NFKC, tidy quotes, "n't" split off,
punctuation runs capped at 3, one token per other visible character), except:

- emoticons are one token each, in a canonical spelling: ":-)", ":)))" and "=)" read ":)";
  ";-)" reads ";)"; ":D", "xD", ":P", ":(", ":'(", ":/", ":|", ":O", ":*", ":3", ">:(", "<3",
  "</3", "^_^", "-_-", "o_O", "T_T", ">_<". Found before lower-casing ("xD", ":P") and never
  inside a word or a number ("10:30", "1:3", ":Dear" are not faces);
- a URL (http://, https://, www.) reads `<url>`, an @mention `<user>`;
- a hashtag reads "#" and then its words: "#BestDayEver" -> "#", "best", "day", "ever" (split
  where the case or letters/digits change); "#1" stays "#", "1";
- a word of two or more capital letters and no small ones is kept as a signal: `<caps>` before it
  ("GREAT" -> "<caps>", "great"), as VADER reads capitals as intensity;
- a letter typed three or more times in a row is cut to two, with `<elong>` before the word
  ("soooo" -> "<elong>", "soo"; "goooood" -> "<elong>", "good"): two, not one, so that words
  spelled with a double letter ("good", "cool") come back right;
- an emoji keeps its skin tone and variation selector out of the token ("👍🏽" -> "👍") and a
  ZWJ sequence is one token;
- HTML tags are only "<" + a letter, "/" or "!" ... ">", so "<3" and ">:(" survive.

Tokens are lower case apart from the markers and the canonical emoticons. A marker token's
offsets are those of the word it marks.
"""

from __future__ import annotations

import html
import re
import unicodedata

from model.offsets import TokenSpan, _Aligned, _negation, _nfkc, _repeats, _replace, _unescape, aligned_spans
from model.tokenizer import _QUOTES, _REPEAT

URL = "<url>"
USER = "<user>"
CAPS = "<caps>"
ELONG = "<elong>"

_TAG = re.compile(r"<[A-Za-z/!][^<>]{0,200}>")
_NEGATION = re.compile(r"(\w)(?=n't\b)", re.IGNORECASE)  # case kept: "DIDN'T" -> "DID N'T"

# A face: optional brow, eyes, optional nose or tear, a mouth (repeatable where people repeat it).
_FACE = r"(?<!\d)>?[:;=][-']?(?:\)+|\(+|\]+|\[+|D+|[pP]+|/(?!/)|\\|\|+|3|\*|[oO])"
_EMOTICON = (
    rf"(?:{_FACE}|</?3+|(?<![^\W_])(?:[xX]D+|[oO]_[oO]|T_T)|\^_*\^|-_+-|>_<)"
    r"(?![^\W_])"  # never the start of a word or number (":Dear", "<30")
)
_MODIFIERS = "\ufe0f\U0001f3fb-\U0001f3ff"  # variation selector 16, skin tones
# Each special kind is gated on its first character ("(?=@)"), which keeps the scan within
# 1.5x of the English one: most positions start a plain word and fail each gate at once.
_TOKEN = re.compile(
    r"(?P<url>(?=[hHwW])(?i:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?')\]}])"
    r"|(?P<user>(?=@)(?<![\w@])@\w+)"
    r"|(?P<tag>(?=#)(?<![\w#&])#(?=[^\W\d_])\w+)"
    rf"|(?P<face>(?=[:;=<>^xXoOT-]){_EMOTICON})"
    r"|(?P<neg>(?i:n't))"
    r"|(?P<word>[^\W_]+(?:'[^\W_]+)?)"
    rf"|(?P<other>[^\w\s][{_MODIFIERS}]*(?:\u200d[^\w\s][{_MODIFIERS}]*)*)"
)
_STRIP_MODIFIERS = re.compile(rf"[{_MODIFIERS}]")
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
_CANONICAL = {"=": ":", "o": "O", "p": "P", "]": ")", "[": "("}


def normalize(text: str) -> str:
    """Return `text` as social-v1 reads it before splitting: as `model.tokenizer.normalize`, case kept."""
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _NEGATION.sub(r"\1 ", text)
    return _REPEAT.sub(r"\1\1\1", text)


def tokenize(text: str) -> list[str]:
    """Split `text` into social-v1 tokens; deterministic and never raises on a str."""
    return [token for token, _, _ in _read(normalize(text))]


def normalize_with_offsets(text: str) -> _Aligned:
    """`normalize(text)`, each character with the span of `text` it came from (model/offsets.py)."""
    aligned = _unescape(_Aligned.of(text))
    aligned = _replace(aligned, _TAG, " ")
    aligned = _nfkc(aligned)
    aligned = _Aligned([c.translate(_QUOTES) for c in aligned.chars], aligned.starts, aligned.ends)
    return _repeats(_negation(aligned, _NEGATION))


def tokenize_with_offsets(text: str) -> list[TokenSpan]:
    """Return `tokenize(text)`'s tokens, each with its span in `text`."""
    return aligned_spans(text, normalize_with_offsets, normalize, tokenize, _read)


def _read(normal: str) -> list[tuple[str, int, int]]:
    """Tokens of a normalised string, each with the span of `normal` it stands for."""
    out: list[tuple[str, int, int]] = []
    elongated = _ELONGATION.search(normal) is not None  # one search per text, not one per word
    for m in _TOKEN.finditer(normal):
        kind, token = m.lastgroup, m.group()
        start, end = m.span()
        if kind == "word":
            if token.islower() and not elongated:  # the common case: nothing to mark
                out.append((token.lower(), start, end))
            else:
                _word(token, start, end, out)
        elif kind == "other":
            symbol = token[0] + _STRIP_MODIFIERS.sub("", token[1:]) if len(token) > 1 else token
            out.append((symbol.lower(), start, end))
        elif kind == "neg":
            out.append(("n't", start, end))
        elif kind == "face":
            out.append((_face(token), start, end))
        elif kind == "url":
            out.append((URL, start, end))
        elif kind == "user":
            out.append((USER, start, end))
        else:  # a hashtag: "#", then its words
            out.append(("#", start, start + 1))
            for a, b in _hashtag_words(token, 1):
                _word(token[a:b], start + a, start + b, out)
    return out


def _word(word: str, start: int, end: int, out: list[tuple[str, int, int]]) -> None:
    if word.isupper() and sum(c.isupper() for c in word) >= 2:
        out.append((CAPS, start, end))
    if _ELONGATION.search(word):
        out.append((ELONG, start, end))
        word = _ELONGATION.sub(r"\1\1", word)
    out.append((word.lower(), start, end))


def _face(face: str) -> str:
    """The canonical spelling of an emoticon: no nose, one mouth character, ":" for "="."""
    if face[0] == "<":
        return "</3" if face[1] == "/" else "<3"
    if face[0] == "^":
        return "^_^"
    if face[0] in "xX":
        return "xD"
    if face[0] in "oO" and face[1] == "_":
        return "o_O"
    if face[0] in "-T" or face == ">_<":
        return face[0] + "_" + face[-1]
    brow = ">" if face[0] == ">" else ""
    body = face[len(brow) :]
    eyes, rest = body[0], body[1:]
    tear = "'" if rest[:1] == "'" else ""
    mouth = rest.lstrip("-'")[:1]
    return brow + _CANONICAL.get(eyes, eyes) + tear + _CANONICAL.get(mouth, mouth)


def _hashtag_words(tag: str, begin: int) -> list[tuple[int, int]]:
    """Spans of the words of a hashtag's body tag[begin:]: cut where case or letters/digits change
    ("BestDayEver", "NYCMarathon" -> "NYC" "Marathon", "top10" -> "top" "10", not "iPhone"); "_" separates."""
    spans: list[tuple[int, int]] = []
    start = None
    for i in range(begin, len(tag) + 1):
        char = tag[i] if i < len(tag) else "_"
        if char == "_" or not (char.isalnum()):
            if start is not None:
                spans.append((start, i))
            start = None
            continue
        if start is not None and _cut_before(tag, start, i):
            spans.append((start, i))
            start = i
        if start is None:
            start = i
    return spans


def _cut_before(tag: str, start: int, i: int) -> bool:
    previous, char = tag[i - 1], tag[i]
    if previous.isdigit() != char.isdigit():
        return True
    if previous.islower() and char.isupper():
        return i - start > 1  # not "iPhone", "eBay"
    # "NYCMarathon": an upper case run followed by a capitalised word; cut before its capital
    return previous.isupper() and char.isupper() and i + 1 < len(tag) and tag[i + 1].islower() and i - start >= 1
