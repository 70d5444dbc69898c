"""The transfer set for distillation: augmented training sentences and unlabelled review sentences.

Augmentation follows Tang et al. (2019, "Distilling task-specific knowledge from BERT into simple
neural networks", section 3.3): each word is masked with probability `p_mask`, else replaced by a
similar word with probability `p_replace` (here a random one of its `neighbours` nearest word2vec
neighbours, from the vectors the project pre-trains; Tang used a word of the same part of
speech), then with probability `p_ngram` only a random n-gram (n = 1..5) of the result is kept.
`variants` tries per sentence, duplicates and the sentence itself dropped. A variant has no label:
the teacher labels it. Everything is seeded per sentence, so the same input and seed always give
the same transfer set, whatever the order or the number of processes.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MASK = "[MASK]"  # the teacher's mask token; the student reads it as an unknown word


@dataclass(frozen=True)
class AugmentSettings:
    variants: int = 20
    p_mask: float = 0.1
    p_replace: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    neighbours: int = 10
    seed: int = 13


class Neighbours:
    """Nearest words by cosine similarity of pre-trained word vectors (training/vectors.py's format)."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, k: int) -> None:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unit = (vectors / np.maximum(norms, 1e-8)).astype(np.float32)
        self.k = k
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def load(cls, directory: str | Path, k: int) -> Neighbours:
        from safetensors.numpy import load_file

        path = Path(directory)
        words = json.loads((path / "words.json").read_text(encoding="utf-8"))["words"]
        vectors = load_file(str(path / "vectors.safetensors"))["vectors"].astype(np.float32)
        return cls(words, vectors, k)

    def prepare(self, words: Iterable[str]) -> None:
        """Compute the neighbours of many words at once (one matrix product per block)."""
        todo = sorted({w for w in words if w in self.index and w not in self._cache})
        for start in range(0, len(todo), 1024):
            block = todo[start : start + 1024]
            scores = self.unit[[self.index[w] for w in block]] @ self.unit.T
            top = np.argpartition(-scores, self.k + 1, axis=1)[:, : self.k + 1]
            for row, word in enumerate(block):
                best = sorted(top[row], key=lambda j: -scores[row, j])
                self._cache[word] = [self.words[j] for j in best if self.words[j] != word][: self.k]

    def of(self, word: str) -> list[str]:
        if word not in self._cache:
            self.prepare([word])
        return self._cache.get(word, [])


def _rng(seed: int, text: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}\0{text}".encode()).digest()[:8], "big"))


def augment_words(words: Sequence[str], rng: random.Random, settings: AugmentSettings, near: Neighbours) -> list[str]:
    out = []
    for word in words:
        x = rng.random()
        if x < settings.p_mask:
            out.append(MASK)
        elif x < settings.p_mask + settings.p_replace and (options := near.of(word.lower())):
            out.append(rng.choice(options))
        else:
            out.append(word)
    if rng.random() < settings.p_ngram and len(out) > 1:
        n = rng.randint(1, min(settings.max_ngram, len(out)))
        start = rng.randint(0, len(out) - n)
        out = out[start : start + n]
    return out


def augment(text: str, settings: AugmentSettings, near: Neighbours) -> list[str]:
    """Up to `settings.variants` distinct variants of `text`, never `text` itself; deterministic."""
    words = text.split()
    rng = _rng(settings.seed, text)
    seen = {" ".join(words)}
    variants = []
    for _ in range(settings.variants):
        variant = " ".join(augment_words(words, rng, settings, near))
        if variant not in seen and variant.replace(MASK, "").strip():
            seen.add(variant)
            variants.append(variant)
    return variants


def review_sentences(review: str, *, min_words: int = 3, max_words: int = 60) -> Iterator[str]:
    """The sentences of an unlabelled review, tags removed, of a useful length."""
    from model.sentences import split_sentences
    from model.tokenizer import _TAG

    for span in split_sentences(review):
        sentence = " ".join(_TAG.sub(" ", review[span.start : span.end]).split())
        if min_words <= len(sentence.split()) <= max_words:
            yield sentence
