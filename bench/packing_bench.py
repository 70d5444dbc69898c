"""Training step cost: packed BiLSTM vs our padded exact equivalent (forward + backward).

python bench/packing_bench.py [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model import BiLSTMClassifier, ModelConfig  # noqa: E402


def packed_forward(net: BiLSTMClassifier, lstm: nn.LSTM, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    x = net.embedding(ids)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
    valid = (torch.arange(ids.size(1))[None] < lengths[:, None]).unsqueeze(-1)
    pooled = torch.cat([out.masked_fill(~valid, -1e9).amax(1), (out * valid).sum(1) / lengths[:, None]], -1)
    return net.output(pooled)


def timed(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = BiLSTMClassifier(ModelConfig(vocab_size=20_000))
    lstm = nn.LSTM(128, 128, batch_first=True, bidirectional=True)
    print(f"threads {torch.get_num_threads()}; batch 64, E = H = 128; lengths uniform in [T/2, T]")
    print("| T | padded fwd+bwd s | packed fwd+bwd s | packed / padded | padded inference s | packed inference s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for t in (100, 300):
        lengths = torch.randint(t // 2, t + 1, (64,))
        lengths[0] = t
        ids = torch.randint(2, 20_000, (64, t))
        y = torch.randint(0, 2, (64,))

        def padded_step(ids: torch.Tensor = ids, lengths: torch.Tensor = lengths, y: torch.Tensor = y) -> None:
            net.zero_grad()
            nn.functional.cross_entropy(net(ids, lengths), y).backward()

        def packed_step(ids: torch.Tensor = ids, lengths: torch.Tensor = lengths, y: torch.Tensor = y) -> None:
            net.zero_grad()
            lstm.zero_grad()
            nn.functional.cross_entropy(packed_forward(net, lstm, ids, lengths), y).backward()

        with torch.inference_mode():
            pad_inf = timed(lambda ids=ids, lengths=lengths: net(ids, lengths))
            pack_inf = timed(lambda ids=ids, lengths=lengths: packed_forward(net, lstm, ids, lengths))
        pad, pack = timed(padded_step), timed(packed_step)
        print(f"| {t} | {pad:.3f} | {pack:.3f} | {pack / pad:.1f}x | {pad_inf:.3f} | {pack_inf:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
