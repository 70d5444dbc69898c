"""Pre-train the BiLSTM's embedding and LSTMs as two language models on unlabelled text.

Dai & Le (2015) reached 92.8% on IMDB by initialising an LSTM classifier from a language model
trained on the 50k unlabelled reviews. Our classifier reads with two unidirectional LSTMs (see
model/network.py), so each is pre-trained on the task it can do alone, as in ELMo: the forward
one predicts the next token, the backward one (over the text reversed within its length) the
previous one. Their shared embedding and both LSTMs are saved under the classifier's own
parameter names; `python -m training train --init-vectors DIR` maps the embedding rows by token
and copies the LSTM weights.

The output layer is torch's adaptive softmax (frequent words in a small head, rare ones in
cheaper tail clusters), ~5x less work than a full 40k-way softmax, which keeps the run possible
on a CPU, if slowly: ~21M tokens per epoch (~54 min per epoch here, 21 s on an H100). The run's
settings, timings and perplexities are stored in words.json under "info". Measured here, this
initialisation did not beat word2vec for the shipped classifier size (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from model import Vocab
from model.network import reverse_within_length
from model.tokenizer import PAD_ID
from training.train import batches, pad, pick_device, warmup_cosine
from training.vectors import LSTM_FILE, VECTORS_FILE, WORDS_FILE


@dataclass
class LMSettings:
    embedding_dim: int = 128  # = the classifier's E
    hidden_size: int = 128  # = the classifier's H
    vocab_size: int = 40_000
    min_freq: int = 2
    chunk_tokens: int = 400  # longer texts are cut into pieces of at most this many tokens
    batch_size: int = 64
    epochs: int = 10
    lr: float = 2e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    warmup: float = 0.02
    dropout: float = 0.2  # on the LSTM outputs, before the softmax
    embedding_dropout: float = 0.1  # whole words, as in the classifier
    val_fraction: float = 0.01
    seed: int = 13
    device: str = "auto"  # "auto": cuda when there is one, else cpu
    max_minutes: float = 0.0  # stop after this long (0 = no limit); the best epoch so far is saved


class BiLanguageModel(nn.Module):
    """A forward and a backward LSTM language model sharing one embedding.

    The attribute names of the embedding and the LSTMs are the classifier's, so the pre-trained
    part of the state dict loads into `BiLSTMClassifier` unchanged.
    """

    def __init__(self, vocab_size: int, settings: LMSettings) -> None:
        super().__init__()
        e, h = settings.embedding_dim, settings.hidden_size
        self.embedding = nn.Embedding(vocab_size, e, padding_idx=PAD_ID)
        self.forward_lstms = nn.ModuleList([nn.LSTM(e, h, batch_first=True)])
        self.backward_lstms = nn.ModuleList([nn.LSTM(e, h, batch_first=True)])
        self.dropout = nn.Dropout(settings.dropout)
        self.embedding_dropout = settings.embedding_dropout
        # The tail clusters need ids ordered by frequency, which Vocab.build guarantees.
        cutoffs = [c for c in (2_000, 10_000) if c < vocab_size - 1] or [vocab_size // 2]
        self.forward_head = nn.AdaptiveLogSoftmaxWithLoss(h, vocab_size, cutoffs, div_value=4.0)
        self.backward_head = nn.AdaptiveLogSoftmaxWithLoss(h, vocab_size, cutoffs, div_value=4.0)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Return the summed next-token (and previous-token) loss and the number of predictions."""
        x = self.embedding(ids)
        if self.training and self.embedding_dropout > 0:
            keep = 1.0 - self.embedding_dropout
            mask = torch.bernoulli(torch.full(ids.shape, keep, device=ids.device)) / keep
            x = x * mask.unsqueeze(-1)
        # Position t predicts t+1 for t < length-1, in the text and in its reversal.
        steps = torch.arange(ids.size(1) - 1, device=ids.device).unsqueeze(0)
        valid = steps < (lengths - 1).unsqueeze(1)  # (B, T-1)
        total = ids.new_zeros((), dtype=torch.float)
        out_f, _ = self.forward_lstms[0](x)
        total = total + self._loss(self.forward_head, out_f, ids, valid)
        reversed_ids = reverse_within_length(ids.unsqueeze(-1), lengths).squeeze(-1)
        out_b, _ = self.backward_lstms[0](reverse_within_length(x, lengths))
        total = total + self._loss(self.backward_head, out_b, reversed_ids, valid)
        return total, int(valid.sum()) * 2

    def _loss(
        self, head: nn.AdaptiveLogSoftmaxWithLoss, out: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.dropout(out[:, :-1][valid])  # (N, H)
        target = ids[:, 1:][valid]  # (N,)
        return -head(hidden, target).output.sum()


def chunk(ids: list[int], size: int) -> list[list[int]]:
    """Cut `ids` into pieces of at most `size` tokens; a piece shorter than 2 predicts nothing."""
    return [ids[s : s + size] for s in range(0, len(ids), size) if len(ids[s : s + size]) >= 2]


def _on(device: torch.device, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device, non_blocking=True) for t in tensors)


def _evaluate(model: BiLanguageModel, rows: Sequence[list[int]], batch_size: int, device: torch.device) -> float:
    """Mean negative log-likelihood per predicted token (both directions)."""
    model.eval()
    loss, count = 0.0, 0
    with torch.inference_mode():
        for group in batches(rows, batch_size * 2, None):
            total, n = model(*_on(device, pad(rows, group)))
            loss += float(total)
            count += n
    return loss / max(count, 1)


def pretrain_lm(tokenized: Sequence[list[str]], out_dir: str | Path, settings: LMSettings) -> dict[str, Any]:
    """Train the two language models on `tokenized` texts; save embedding + LSTMs to `out_dir`."""
    started = time.monotonic()
    device = pick_device(settings.device)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    progress = {"dynamic_ncols": True, "mininterval": 0.1 if sys.stderr.isatty() else 10.0}
    vocab = Vocab.build(tokenized, max_size=settings.vocab_size, min_freq=settings.min_freq)
    order = list(range(len(tokenized)))
    random.Random(settings.seed).shuffle(order)
    n_val = max(1, round(len(order) * settings.val_fraction))
    rows_of = lambda idx: [c for i in idx for c in chunk(vocab.encode(tokenized[i]), settings.chunk_tokens)]  # noqa: E731
    val_rows, train_rows = rows_of(order[:n_val]), rows_of(order[n_val:])
    if not train_rows or not val_rows:
        raise ValueError("too little text to pre-train on (need texts of 2 or more tokens)")
    tokens_per_epoch = sum(len(r) for r in train_rows)

    model = BiLanguageModel(len(vocab), settings).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, fused=True)
    total_steps = math.ceil(len(train_rows) / settings.batch_size) * settings.epochs
    schedule = warmup_cosine(optimizer, total_steps, settings.warmup)
    rng = random.Random(settings.seed)
    history: list[dict[str, Any]] = []
    best_loss, best_state = math.inf, None
    deadline = started + settings.max_minutes * 60 if settings.max_minutes > 0 else math.inf
    for epoch in range(1, settings.epochs + 1):
        model.train()
        groups = batches(train_rows, settings.batch_size, rng)
        bar = tqdm(groups, desc=f"lm epoch {epoch}/{settings.epochs}", **progress)
        loss_sum, count = 0.0, 0
        for group in bar:
            total, n = model(*_on(device, pad(train_rows, group)))
            optimizer.zero_grad(set_to_none=True)
            (total / n).backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
            optimizer.step()
            schedule.step()
            loss_sum += float(total.detach())
            count += n
            bar.set_postfix(ppl=f"{math.exp(min(20.0, loss_sum / count)):.1f}", refresh=False)
            if time.monotonic() > deadline:
                break
        val_loss = _evaluate(model, val_rows, settings.batch_size, device)
        record = {
            "epoch": epoch,
            "train_perplexity": math.exp(min(20.0, loss_sum / max(count, 1))),
            "val_perplexity": math.exp(min(20.0, val_loss)),
            "elapsed_s": round(time.monotonic() - started, 1),
        }
        history.append(record)
        tqdm.write(
            f"lm epoch {epoch}: train ppl {record['train_perplexity']:.1f} | val ppl {record['val_perplexity']:.1f}",
            file=sys.stderr,
        )
        if val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if time.monotonic() > deadline:
            tqdm.write(f"stopping: --max-minutes {settings.max_minutes} reached", file=sys.stderr)
            break
    assert best_state is not None
    info = {
        "texts": len(tokenized),
        "train_chunks": len(train_rows),
        "val_chunks": len(val_rows),
        "tokens_per_epoch": tokens_per_epoch,
        "vocab_size": len(vocab),
        "best_val_perplexity": math.exp(min(20.0, best_loss)),
        "history": history,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "seconds": round(time.monotonic() - started, 1),
        "settings": asdict(settings),
    }
    save_encoder(best_state, vocab, out_dir, info)
    return info


def save_encoder(state: dict[str, torch.Tensor], vocab: Vocab, out_dir: str | Path, info: dict[str, Any]) -> None:
    """Write words.json + vectors.safetensors (the embedding) + lstm.safetensors (both LSTMs)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # float16 halves the file; the embedding is fine-tuned anyway. The LSTMs stay float32.
    save_file({"vectors": state["embedding.weight"].half().contiguous()}, str(out / VECTORS_FILE))
    lstm = {k: v.contiguous() for k, v in state.items() if k.startswith(("forward_lstms.", "backward_lstms."))}
    save_file(lstm, str(out / LSTM_FILE))
    (out / WORDS_FILE).write_text(
        json.dumps({"words": list(vocab.tokens), "info": {"kind": "bilm", **info}}, ensure_ascii=False),
        encoding="utf-8",
    )
    for name in (VECTORS_FILE, LSTM_FILE, WORDS_FILE):
        (out / name).chmod(0o644)
