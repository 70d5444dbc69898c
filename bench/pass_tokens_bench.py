"""Texts/s of the Predictor by the padded tokens a forward pass may hold (`PASS_TOKENS`).

    python bench/pass_tokens_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz [--budgets 0,8192,4096,2048]

512 IMDB test reviews and 512 short sentences through `Predictor.predict` (ONNX Runtime, fp32 and
int8, batch size 32 as the service runs and 64 as the Predictor's default), each budget in turn,
interleaved over `--rounds`; best texts/s per cell, with the CPU's features. Budget 0: no cap (rows
only, as before the cap existed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import model.predictor as predictor_module  # noqa: E402
from bench.graph_bench import imdb_reviews  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402
from model import load_predictor  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, required=True)
    parser.add_argument("--budgets", default="0,8192,4096,2048")
    parser.add_argument("--batches", default="32,64")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    print(describe())
    sets = {"reviews": imdb_reviews(args.imdb, 512), "short": SHORT * 64}
    budgets = [int(b) for b in args.budgets.split(",")]
    predictors = {
        (precision, batch): load_predictor(runtime="onnx", precision=precision, batch_size=batch)
        for precision in ("fp32", "int8")
        for batch in (int(b) for b in args.batches.split(","))
    }
    best: dict[tuple[str, int, str, int], float] = {}
    for _ in range(args.rounds):
        for (precision, batch), predictor in predictors.items():
            for kind, texts in sets.items():
                for budget in budgets:
                    predictor_module.PASS_TOKENS = budget or 1 << 60
                    predictor.predict(texts[:64])
                    done, started = 0, time.perf_counter()
                    while time.perf_counter() - started < args.seconds:
                        predictor.predict(texts)
                        done += len(texts)
                    key = (precision, batch, kind, budget)
                    best[key] = max(best.get(key, 0.0), done / (time.perf_counter() - started))
    print("| precision | batch | texts | " + " | ".join(f"budget {b or 'none'}" for b in budgets) + " |")
    print("| --- | --- | --- | " + " | ".join("---:" for _ in budgets) + " |")
    for (precision, batch), _predictor in predictors.items():
        for kind in sets:
            base = best[precision, batch, kind, budgets[0]]
            cells = [
                f"{best[precision, batch, kind, b]:,.0f} (x{best[precision, batch, kind, b] / base:.2f})"
                for b in budgets
            ]
            print(f"| {precision} | {batch} | {kind} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
