"""The accuracy gate of every precision on every validation set the shipped models have.

    python bench/precision_gate.py [--data ../shared/data] [--models default,zh,DIR] [--precisions int8,bf16,...]
                                   [--imdb-test N] [--alone N] [--record] [--json FILE]

For each model (model/default, model/zh, or an artifact directory) it reads the artifact's own
training files (those its metrics.json names, found in --data), keeps only the rows that the
artifact held out for validation (training/evaluate.py select_rows, as `python -m training evaluate
--rows held-out`), scores them in fp32 and in each precision, and applies
model/precision.py accuracy_gate per source: the same label on >= 99.5% of texts and accuracy within
0.2 points of fp32. Binary sources read by a three-label model are scored as `evaluate` scores them
(training/graded.py binary_pair: argmax over negative and positive). IMDB test reviews (never trained
on) are added for the English model. Prints one table row per (source, precision) and PASS / FAIL.

Each row also scores its first N texts one at a time (--alone): how far a text's probabilities move
with the batch it rides in (int8 quantizes activations with one scale per call, over the whole batch).
--record writes the verdicts of the precisions `auto` may pick into each artifact's metrics.json
("precision_gate", for the weights' version): `auto` considers only a precision recorded as passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model import DEFAULT_MODEL_DIR, Predictor, accuracy_gate, load_artifact  # noqa: E402
from model.artifact import METRICS_FILE  # noqa: E402
from model.onnx_backend import OnnxNetwork  # noqa: E402
from model.precision import GATE_KEY, MAX_ACCURACY_CHANGE, MIN_SAME_LABEL, RUNTIME_FOR  # noqa: E402
from training.data import Example, read_dataset, recorded_options  # noqa: E402
from training.evaluate import select_rows  # noqa: E402
from training.graded import binary_pair  # noqa: E402

MODELS = {"default": DEFAULT_MODEL_DIR, "zh": DEFAULT_MODEL_DIR.parent / "zh"}


def validation_sets(model_dir: Path, data: Path, imdb_test: int) -> dict[str, list[Example]]:
    """Held-out rows of the artifact's training files, by source; IMDB test reviews for an English model."""
    metrics = load_artifact(model_dir).metrics
    parts = []
    for entry in metrics.get("data") or []:
        path = data / entry["file"]
        parts.append((str(path), read_dataset(path, split="train", options=recorded_options(entry.get("read") or {}))))
    selection = select_rows(parts, metrics, rows="held-out", imdb_split="train")
    by_source: dict[str, list[Example]] = {}
    for example in selection.examples:
        by_source.setdefault(example.source.split(":", 1)[0], []).append(example)
    if imdb_test and any(e["file"] == "aclImdb_v1.tar.gz" for e in metrics.get("data") or []):
        test = read_dataset(data / "aclImdb_v1.tar.gz", split="test")
        by_source["imdb test (never trained on)"] = test[:: max(1, len(test) // imdb_test)][:imdb_test]
    return by_source


# Levers measured beside the int8 offered (per-channel scales, embedding fp32): name -> OnnxNetwork options
INT8_LEVERS = {
    "int8-per-tensor": {"per_channel": False},
    "int8-ort-defaults": {"per_channel": False, "quantize_embedding": True},  # quantize_dynamic's defaults
}


def build(model_dir: Path, precision: str) -> Predictor:
    artifact = load_artifact(model_dir)
    if precision in INT8_LEVERS:
        predictor = Predictor(artifact, precision="int8")
        config = artifact.config
        predictor._forward = OnnxNetwork(
            artifact.weights, config.num_layers, config.hidden_size, precision="int8", **INT8_LEVERS[precision]
        )
        return predictor
    return Predictor(artifact, precision=precision)


def record(model_dir: Path, rows: list[dict[str, object]]) -> None:
    """Write the verdicts of the precisions `auto` may pick into the artifact's metrics.json."""
    artifact = load_artifact(model_dir)
    gate: dict[str, object] = {
        "version": artifact.version,
        "checked_by": "bench/precision_gate.py",
        "cpu": describe(),
        "thresholds": {"min_same_label": MIN_SAME_LABEL, "max_accuracy_change": MAX_ACCURACY_CHANGE},
        "precisions": {
            precision: {
                "passed": all(r["passed"] for r in rows if r["precision"] == precision),
                "sets": {
                    str(r["source"]): {k: r[k] for k in ("texts", "accuracy_fp32", "accuracy", "same_label", "passed")}
                    for r in rows
                    if r["precision"] == precision
                },
            }
            for precision in RUNTIME_FOR
            if any(r["precision"] == precision for r in rows)
        },
    }
    metrics = dict(artifact.metrics)
    metrics[GATE_KEY] = gate
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"recorded in {model_dir / METRICS_FILE}: "
        + ", ".join(f"{p} {'passed' if v['passed'] else 'failed'}" for p, v in gate["precisions"].items())
    )  # type: ignore[attr-defined]


def gate_rows(
    labels: Sequence[str], examples: Sequence[Example], reference: np.ndarray, candidate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Probabilities and gold indices as the gate reads them (binary rows of a 3-label model: two columns)."""
    pair = binary_pair(labels)
    if pair is not None and {e.label for e in examples} <= {"negative", "positive"}:
        cols = list(pair)
        gold = [0 if e.label == "negative" else 1 for e in examples]
        return reference[:, cols], candidate[:, cols], gold
    return reference, candidate, [list(labels).index(e.label) for e in examples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder of the training files")
    parser.add_argument(
        "--precisions", default="int8,bf16,int8-per-tensor,int8-ort-defaults", help="compared with fp32"
    )
    parser.add_argument(
        "--models",
        default="default,zh",
        help=f"comma-separated: {', '.join(MODELS)} (the shipped ones) or artifact directories",
    )
    parser.add_argument("--imdb-test", type=int, default=5000, help="IMDB test reviews added (0 = none)")
    parser.add_argument("--alone", type=int, default=300, help="texts per set also scored one at a time")
    parser.add_argument("--record", action="store_true", help="write the verdicts into each model's metrics.json")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    print(describe())
    precisions = [p for p in args.precisions.split(",") if p]
    results = []
    print(
        "| model | source | texts | fp32 accuracy | precision | accuracy | same label | max abs dp | gate "
        "| alone vs batched: max abs dp, same label |"
    )
    print("| --- " * 10 + "|")
    for name in args.models.split(","):
        model_dir = MODELS.get(name) or Path(name)
        sets = validation_sets(model_dir, args.data, args.imdb_test)
        fp32 = build(model_dir, "fp32")
        labels = fp32.labels
        ids = {source: [fp32.encode(e.text).ids for e in rows] for source, rows in sets.items()}
        reference = {source: fp32.probabilities(i) for source, i in ids.items()}
        for precision in ["fp32", *precisions]:
            predictor = fp32 if precision == "fp32" else build(model_dir, precision)
            for source, rows in sets.items():
                started = time.perf_counter()
                got = predictor.probabilities(ids[source])
                seconds = time.perf_counter() - started
                ref, cand, gold = gate_rows(labels, rows, reference[source], got)
                gate = accuracy_gate(ref, cand, gold=gold)
                worst = float(np.abs(reference[source] - got).max())
                predictor.batch_size = 1
                alone = predictor.probabilities(ids[source][: args.alone])
                predictor.batch_size = 64
                batched = got[: args.alone]
                drift = float(np.abs(alone - batched).max())
                drift_same = float((alone.argmax(1) == batched.argmax(1)).mean())
                row = {
                    "model": name,
                    "source": source,
                    "texts": gate.texts,
                    "precision": precision,
                    "accuracy_fp32": gate.accuracy_fp32,
                    "accuracy": gate.accuracy,
                    "same_label": gate.same_label,
                    "max_probability_change": worst,
                    "passed": gate.passed,
                    "seconds": seconds,
                    "alone_vs_batched_max_probability_change": drift,
                    "alone_vs_batched_same_label": drift_same,
                }
                results.append(row)
                verdict = "PASS" if gate.passed else "FAIL"
                print(
                    f"| {name} | {source} | {gate.texts} | {gate.accuracy_fp32:.2%} | {precision} | "
                    f"{gate.accuracy:.2%} | {gate.same_label:.2%} | {worst:.3f} | {verdict} | "
                    f"{drift:.1e}, {drift_same:.2%} of {len(alone)} |",
                    flush=True,
                )
    for precision in precisions:
        mine = [r for r in results if r["precision"] == precision]
        print(f"{precision}: {'PASSES' if all(r['passed'] for r in mine) else 'FAILS'} the gate on {len(mine)} sets")
    if args.record:
        for name in args.models.split(","):
            record(MODELS.get(name) or Path(name), [r for r in results if r["model"] == name])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
