"""Score artifacts on the training data's validation split (sentence-level for SST-2) and on a few
short texts a new user would try; one JSON line per model.

    .venv/bin/python bench/distill_eval.py --model model/default --model runs/distill/student \\
        --data ../shared/data/aclImdb_v1.tar.gz --data ../shared/data/sst2_train.tsv --label-map 0=negative,1=positive

The split is training/splits.py's with the training defaults (--val-fraction 0.1, --seed 13), so
the numbers are those of each artifact's own validation split when it was trained on the same data.
A model trained before that split existed (the shipped model up to ae2447e7acba) saw the validation
sentences' phrases in training: its sentence-level figure is optimistic.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import load_predictor  # noqa: E402
from training.data import ReadOptions, read_dataset  # noqa: E402
from training.splits import split_examples  # noqa: E402

PROBES = [  # (text, the label a reader gives it): the short texts of issue 14
    ("meh", "negative"),
    ("The plot was predictable but the acting saved it.", "positive"),
    ("I expected more from this director.", "negative"),
    ("Not bad at all.", "positive"),
    ("I wouldn't watch it again.", "negative"),
    ("A waste of a great cast.", "negative"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--label-map", default="0=negative,1=positive")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    label_map = dict(p.split("=", 1) for p in args.label_map.split(","))
    examples = []
    for path in args.data:
        examples.extend(read_dataset(path, options=ReadOptions(label_map=label_map)))
    _, val, _ = split_examples(examples, args.val_fraction, args.seed)
    for model_dir in args.model:
        predictor = load_predictor(model_dir)
        by_source: dict[str, list[int]] = {}
        for start in range(0, len(val), 256):
            chunk = val[start : start + 256]
            for example, p in zip(chunk, predictor.predict([e.text for e in chunk]), strict=True):
                by_source.setdefault(example.source, []).append(int(p.label == example.label))
        accuracy = {s: sum(h) / len(h) for s, h in sorted(by_source.items())}
        stderr = {s: math.sqrt(a * (1 - a) / len(by_source[s])) for s, a in accuracy.items()}
        probes = [
            {"text": t, "expected": want, "label": p.label, "score": round(p.score, 3)}
            for (t, want), p in zip(PROBES, predictor.predict([t for t, _ in PROBES]), strict=True)
        ]
        print(
            json.dumps(
                {
                    "model": model_dir,
                    "version": predictor.version,
                    "val_accuracy": accuracy,
                    "val_stderr": stderr,
                    "val_examples": {s: len(h) for s, h in by_source.items()},
                    "probes_right": sum(p["label"] == p["expected"] for p in probes),
                    "probes": probes,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
