"""Word vectors pre-trained on unlabelled text (word2vec), saved as safetensors + JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model import Vocab

VECTORS_FILE = "vectors.safetensors"
WORDS_FILE = "words.json"
LSTM_FILE = "lstm.safetensors"  # only in a directory made by `pretrain-lm` (training/lm.py)


def pretrain_word2vec(
    sentences: Sequence[list[str]],
    out_dir: str | Path,
    *,
    dim: int,
    epochs: int,
    workers: int,
    min_count: int = 3,
    window: int = 5,
    seed: int = 13,
) -> dict[str, object]:
    """Train skip-gram word2vec (gensim) on tokenised texts and save the vectors."""
    from gensim.models import Word2Vec  # heavy import, only for this command

    started = time.monotonic()
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1,
        negative=5,
        epochs=epochs,
        workers=workers,
        seed=seed,
    )
    words = list(model.wv.index_to_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # float16 halves the file; the vectors only initialise an embedding that training fine-tunes.
    save_file({"vectors": torch.from_numpy(model.wv.vectors).half()}, str(out / VECTORS_FILE))
    (out / VECTORS_FILE).chmod(0o644)
    info: dict[str, object] = {
        "words": len(words),
        "dim": dim,
        "epochs": epochs,
        "window": window,
        "min_count": min_count,
        "texts": len(sentences),
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / WORDS_FILE).write_text(json.dumps({"words": words, "info": info}, ensure_ascii=False), encoding="utf-8")
    return info


def read_vectors(directory: str | Path) -> tuple[list[str], torch.Tensor]:
    """The words and their vectors (float32, one row per word) of a pre-trained directory."""
    root = Path(directory)
    words: list[str] = json.loads((root / WORDS_FILE).read_text(encoding="utf-8"))["words"]
    return words, load_file(str(root / VECTORS_FILE))["vectors"].float()


def load_vectors(directory: str | Path, vocab: Vocab, weight: torch.Tensor) -> int:
    """Copy pre-trained vectors into `weight` rows of matching tokens; return how many matched."""
    root = Path(directory)
    words, vectors = read_vectors(root)
    if vectors.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{root / VECTORS_FILE}: vectors have {vectors.shape[1]} dimensions, the model {weight.shape[1]}"
        )
    index = {w: i for i, w in enumerate(words)}
    # Rescale word2vec vectors to the embedding's init scale so pre-trained and random rows look
    # alike to the LSTM. A language model's embedding keeps its scale: its LSTMs were trained on it.
    scale = 1.0 if (root / LSTM_FILE).is_file() else weight[2:].std() / vectors.std()
    found = 0
    with torch.no_grad():
        for token_id, token in enumerate(vocab.tokens):
            row = index.get(token)
            if row is not None and token_id > 1:
                weight[token_id] = vectors[row] * scale
                found += 1
    return found


def load_lstms(directory: str | Path, network: torch.nn.Module) -> int:
    """Copy pre-trained first-layer LSTM weights into `network`; return how many tensors (0: none)."""
    path = Path(directory) / LSTM_FILE
    if not path.is_file():
        return 0
    weights = load_file(str(path))
    own = network.state_dict()
    for key, value in weights.items():
        if key not in own:
            raise ValueError(f"{path}: {key} is not a parameter of this model")
        if own[key].shape != value.shape:
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, the model {tuple(own[key].shape)}")
    network.load_state_dict(weights, strict=False)
    return len(weights)
