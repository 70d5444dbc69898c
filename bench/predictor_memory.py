"""Resident memory per extra loaded model, in one process (no server: steadier than models_bench's processes).

    python bench/predictor_memory.py [--model DIR] [--count 4]

Loads the artifact once (imports, first session), then `--count` more predictors of it, one prediction
each, `gc.collect()` and glibc `malloc_trim(0)` after each; prints VmRSS growth per extra predictor.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, rss_mb  # noqa: E402
from model import DEFAULT_MODEL_DIR, load_predictor  # noqa: E402


def settle() -> None:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--count", type=int, default=4)
    args = parser.parse_args()
    print(describe())
    load_predictor(args.model).predict(["warm up"])
    settle()
    base = rss_mb()
    kept = []
    for _ in range(args.count):
        kept.append(load_predictor(args.model))
        kept[-1].predict(["a good film"])
        settle()
    print(f"{args.model.name}: {(rss_mb() - base) / args.count:.1f} MB per extra predictor ({args.count} loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
