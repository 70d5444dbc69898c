"""Score an artifact: accuracy, per-class P/R/F1, confusion matrix, calibration, pictures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model import Predictor, load_artifact
from model.artifact import METRICS_FILE
from model.predictor import DEFAULT_MODEL_DIR
from training.data import Example, fingerprint

ECE_BINS = 15


def classification_metrics(
    labels: list[str], truth: Sequence[str], predicted: Sequence[str], confidence: Sequence[float]
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, confusion matrix (rows: truth) and ECE."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        fp = sum(matrix[r][i] for r in range(len(labels))) - tp
        fn = sum(matrix[i]) - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": sum(matrix[i])}
    n = len(truth)
    bins = [[0, 0.0, 0] for _ in range(ECE_BINS)]  # count, confidence sum, correct
    for t, p, c in zip(truth, predicted, confidence, strict=True):
        b = min(int(c * ECE_BINS), ECE_BINS - 1)
        bins[b][0] += 1
        bins[b][1] += c
        bins[b][2] += int(t == p)
    ece = sum(abs(cnt and (corr / cnt - conf / cnt)) * cnt / n for cnt, conf, corr in bins) if n else 0.0
    return {
        "examples": n,
        "accuracy": sum(int(t == p) for t, p in zip(truth, predicted, strict=True)) / n if n else 0.0,
        "per_class": per_class,
        "macro_f1": sum(c["f1"] for c in per_class.values()) / len(labels),
        "confusion_matrix": {"labels": labels, "rows_truth_columns_predicted": matrix},
        "ece": ece,
        "reliability": [
            {"bin": i, "count": cnt, "confidence": conf / cnt if cnt else None, "accuracy": corr / cnt if cnt else None}
            for i, (cnt, conf, corr) in enumerate(bins)
        ],
    }


def evaluate(
    examples: Sequence[Example],
    *,
    model_dir: str | None,
    report_dir: str | None = None,
    record: str | None = None,
    data_names: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Predict every example, compute metrics, write pictures and report.md; return the metrics."""
    root = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    artifact = load_artifact(root)
    predictor = Predictor(artifact)
    unknown = sorted({e.label for e in examples} - set(predictor.labels))
    if unknown:
        raise ValueError(f"the data holds labels {unknown} that the model does not know ({predictor.labels})")
    predictions = []
    chunk = 512
    for start in tqdm(range(0, len(examples), chunk), desc="predict", unit_scale=chunk):
        predictions.extend(predictor.predict([e.text for e in examples[start : start + chunk]]))
    truth = [e.label for e in examples]
    result = classification_metrics(
        predictor.labels, truth, [p.label for p in predictions], [p.score for p in predictions]
    )
    by_source: dict[str, list[int]] = {}
    for e, p in zip(examples, predictions, strict=True):
        by_source.setdefault(e.source, [0, 0])
        by_source[e.source][0] += int(e.label == p.label)
        by_source[e.source][1] += 1
    result["accuracy_by_source"] = {s: c / n for s, (c, n) in sorted(by_source.items())}
    result["truncated"] = sum(p.tokens_total > p.tokens_used for p in predictions)
    result["model_version"] = artifact.version
    result["data"] = [fingerprint(p) for p in data_names]  # names and hashes, never this machine's paths
    out = Path(report_dir) if report_dir else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    _plots(result, artifact.metrics.get("history", []), out)
    _markdown(result, artifact.metrics, out / "report.md")
    result["report_dir"] = str(out)
    if record:
        metrics = dict(artifact.metrics)
        metrics.setdefault("evaluations", {})[record] = {
            k: v for k, v in result.items() if k not in ("reliability", "report_dir")
        }
        (root / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return result


def _plots(result: dict[str, Any], history: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    if history:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        epochs = [h["epoch"] for h in history]
        left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
        left.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
        left.set(title="loss", xlabel="epoch")
        right.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
        right.plot(epochs, [h["val_accuracy"] for h in history], "o-", label="validation")
        right.set(title="accuracy", xlabel="epoch")
        left.legend()
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=110)
        plt.close(fig)

    labels = result["confusion_matrix"]["labels"]
    matrix = result["confusion_matrix"]["rows_truth_columns_predicted"]
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2.5, 1.3 * len(labels) + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=f"confusion (accuracy {result['accuracy']:.4f})")
    peak = max(max(r) for r in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=110)
    plt.close(fig)

    bins = [b for b in result["reliability"] if b["count"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label="model")
    ax.set(
        xlabel="confidence", ylabel="accuracy", title=f"reliability (ECE {result['ece']:.4f})", xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=110)
    plt.close(fig)


def _markdown(result: dict[str, Any], metrics: dict[str, Any], path: Path) -> None:
    lines = [
        f"# Evaluation of model {result['model_version']}",
        "",
        f"Data: {', '.join(str(d['file']) for d in result['data']) or 'given examples'} "
        f"({result['examples']} examples, {result['truncated']} truncated).",
        "",
        f"- accuracy: **{result['accuracy']:.4f}**, macro F1 {result['macro_f1']:.4f}, ECE {result['ece']:.4f}",
        f"- accuracy by source: {', '.join(f'{s} {a:.4f}' for s, a in result['accuracy_by_source'].items())}",
    ]
    if "training_time_s" in metrics:
        lines.append(f"- training time: {metrics['training_time_s']} s, best epoch {metrics.get('best_epoch')}")
    lines += ["", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for label, c in result["per_class"].items():
        lines.append(f"| {label} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |")
    lines += [
        "",
        "![training curves](training_curves.png) ![confusion matrix](confusion_matrix.png) "
        "![reliability](reliability.png)",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
