"""ONNX Runtime's forward pass on one intra-op thread against two, by rows per pass and precision.

    python bench/threads_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz [--rows 1,2,4,8,32] [--rounds 4]

600 IMDB test reviews and 256 short sentences, grouped as the Predictor groups them
(`length_buckets`, at most --rows texts and PASS_TOKENS tokens per pass), run through `OnnxNetwork`
of the shipped English model built with threads=1 and threads=2, interleaved; best texts/s of the
rounds, with the CPU's features: the measurement behind the one-thread session that int8 uses for a
pass of one text (model/onnx_backend.py). Each network is driven through its main session only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.graph_bench import imdb_reviews  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402
from model import load_predictor  # noqa: E402
from model.onnx_backend import OnnxNetwork  # noqa: E402
from model.predictor import length_buckets  # noqa: E402
from model.tokenizer import PAD_ID  # noqa: E402


def passes(id_lists: list[list[int]], rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for bucket in length_buckets([len(ids) for ids in id_lists], rows):
        texts = [id_lists[i] for i in bucket]
        ids = np.full((len(texts), len(texts[0])), PAD_ID, dtype=np.int64)
        for r, row in enumerate(texts):
            ids[r, : len(row)] = row
        out.append((ids, np.array([len(t) for t in texts])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, required=True)
    parser.add_argument("--rows", default="1,2,4,8,32")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(describe())
    predictor = load_predictor(runtime="onnx")
    artifact, config = predictor.artifact, predictor.artifact.config
    sets = {
        "reviews": [predictor.encode(t).ids for t in imdb_reviews(args.imdb, 600)],
        "short": [predictor.encode(t).ids for t in SHORT * 32],
    }
    print("| precision | texts | rows per pass | 1 thread texts/s | 2 threads texts/s | 2 / 1 |")
    print("| --- | --- | --- | ---: | ---: | --- |")
    for precision in ("fp32", "int8"):
        networks = {
            t: OnnxNetwork(artifact.weights, config.num_layers, config.hidden_size, threads=t, precision=precision)
            for t in (1, 2)
        }
        for kind, id_lists in sets.items():
            for rows in (int(r) for r in args.rows.split(",")):
                work = passes(id_lists, rows)
                texts = sum(len(ids) for ids, _ in work)
                best = {1: float("inf"), 2: float("inf")}
                for _ in range(args.rounds):
                    for threads, network in networks.items():
                        started = time.perf_counter()
                        for ids, lengths in work:
                            network.session.run(None, network.feed(ids, lengths))
                        best[threads] = min(best[threads], time.perf_counter() - started)
                one, two = texts / best[1], texts / best[2]
                print(f"| {precision} | {kind} | {rows} | {one:,.0f} | {two:,.0f} | x{two / one:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
