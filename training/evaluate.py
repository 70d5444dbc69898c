"""Score an artifact: accuracy, per-class P/R/F1, confusion matrix, calibration, pictures."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model import Predictor, load_artifact
from model.artifact import METRICS_FILE
from model.predictor import DEFAULT_MODEL_DIR, Prediction
from training import graded
from training.data import (
    DataError,
    Example,
    describe_source,
    detect_format,
    file_source,
    fingerprint,
    is_database_url,
    rows_sha256,
)
from training.data import renamed as rename
from training.graded import classification_metrics
from training.splits import artifact_source, artifact_split

ROWS = ("auto", "held-out", "all")  # `evaluate --rows`: which rows of the artifact's own training data to score


@dataclass
class Selection:
    """The rows to score, what was done per source (recorded in the result as "rows"), and lines for stderr."""

    examples: list[Example]
    report: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def select_rows(
    parts: Sequence[tuple[str, Sequence[Example]]], metrics: Mapping[str, Any], *, rows: str, imdb_split: str = "test"
) -> Selection:
    """Leave out the rows an artifact trained on, from data given as (name, rows read from it) pairs.

    A part whose rows are one of the artifact's training sources (the rows' checksum that its
    metrics.json records as "data_rows", so a renamed or re-packed copy is recognised too) is split
    as the artifact split it (training/splits.py artifact_split) and only its validation rows are
    kept, under the artifact's source name. `rows`:
    - "auto": held-out rows of recognised training data, all rows of anything else; where the
      artifact's training file cannot be split as it was (same SHA-256, rows read otherwise), every
      row is scored with a warning that training rows are included;
    - "held-out": the same, but that case is an error;
    - "all": every row (a note names the training data among them).
    """
    if rows not in ROWS:
        raise ValueError(f"rows must be one of {', '.join(ROWS)}, not {rows!r}")
    known = {digest: source for source, digest in (metrics.get("data_rows") or {}).items()}
    selected: list[Example] = []
    report: dict[str, Any] = {"mode": rows, "sources": {}}
    notes: list[str] = []
    for name, part in parts:
        shown = name if is_database_url(name) else Path(name).name
        by_source: dict[str, list[Example]] = {}
        for example in part:
            by_source.setdefault(file_source(example.source), []).append(example)
        for source, group in by_source.items():
            trained = known.get(rows_sha256(group)[source])
            if trained is None:
                entry = _same_file(name, metrics, imdb_split)
                if entry is not None:
                    why = (
                        "its rows as read here are not the rows it trained on (other --label-map, columns or "
                        "--skip-bad?)"
                        if known
                        else "its metrics.json records no rows checksum (data_rows) to split them by"
                    )
                    problem = (
                        f"{shown} is the artifact's training file {entry.get('file')} (same SHA-256), but {why}, "
                        "so its held-out rows cannot be told apart"
                    )
                    if rows == "held-out":
                        raise DataError(problem)
                    if rows == "auto":
                        notes.append(f"WARNING: {problem}: scoring all {len(group)} rows, TRAINING ROWS INCLUDED")
                    trained_on = artifact_source(entry)
                    report["sources"][source] = _info(len(group), len(group), trained_on=trained_on, held_out=False)
                else:
                    report["sources"][source] = _info(len(group), len(group), trained_on=None, held_out=False)
                selected.extend(group)
                continue
            renamed = [rename(e, trained) for e in group]
            if rows == "all":
                notes.append(
                    f"{shown}: the artifact's training data ({trained}); --rows all scores all {len(group)} rows, "
                    "training rows included"
                )
                report["sources"][trained] = _info(len(group), len(group), trained_on=trained, held_out=False)
                selected.extend(renamed)
                continue
            try:
                _, val, _ = artifact_split(renamed, metrics)
            except DataError as exc:
                if rows == "held-out":
                    raise DataError(f"{shown}: {exc}") from None
                notes.append(f"WARNING: {shown}: {exc}: scoring all {len(group)} rows, TRAINING ROWS INCLUDED")
                report["sources"][trained] = _info(len(group), len(group), trained_on=trained, held_out=False)
                selected.extend(renamed)
                continue
            notes.append(
                f"{shown}: the artifact's training data ({trained}): scoring only the {len(val)} of its "
                f"{len(group)} rows that the artifact held out for validation (--rows all scores every row)"
            )
            report["sources"][trained] = _info(len(group), len(val), trained_on=trained, held_out=True)
            selected.extend(val)
    return Selection(selected, report, notes)


def _info(read: int, scored: int, *, trained_on: str | None, held_out: bool) -> dict[str, Any]:
    return {"read": read, "scored": scored, "training_source": trained_on, "held_out_only": held_out}


def _same_file(name: str, metrics: Mapping[str, Any], imdb_split: str) -> Mapping[str, Any] | None:
    """The metrics.json "data" entry with this file's SHA-256, if the rows read from it are training rows."""
    entries = [d for d in metrics.get("data") or [] if isinstance(d, dict) and d.get("sha256")]
    if not entries or is_database_url(name):
        return None
    path = Path(name)
    if detect_format(path) == "imdb" and imdb_split != "train":
        return None  # the test reviews of the artifact's archive: never trained on
    digest = fingerprint(path)["sha256"]
    return next((d for d in entries if d["sha256"] == digest), None)


def evaluate(
    parts: Sequence[tuple[str, Sequence[Example]]],
    *,
    model_dir: str | None,
    report_dir: str | None = None,
    record: str | None = None,
    rows: str = "auto",
    imdb_split: str = "test",
) -> dict[str, Any]:
    """Score the rows read from each data file, as `rows` picks them (select_rows); write pictures and report.md.

    `parts` are (name as given, rows read from it); returns the metrics.
    """
    root = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    artifact = load_artifact(root)
    selection = select_rows(parts, artifact.metrics, rows=rows, imdb_split=imdb_split)
    for note in selection.notes:
        tqdm.write(note, file=sys.stderr)
    examples = selection.examples
    if not examples:
        raise DataError("no rows left to score")
    predictor = Predictor(artifact)
    unknown = sorted({e.label for e in examples} - set(predictor.labels))
    if any(e.label in unknown and e.target is None for e in examples):
        raise ValueError(f"the data holds labels {unknown} that the model does not know ({predictor.labels})")
    predictions = []
    chunk = 512
    for start in tqdm(range(0, len(examples), chunk), desc="predict", unit_scale=chunk):
        predictions.extend(predictor.predict([e.text for e in examples[start : start + chunk]]))
    # Graded rows whose class the model lacks (neutral, for a two-label model) count in the graded
    # figures only, read by the same band on its polarity.
    known = [i for i, e in enumerate(examples) if e.label in predictor.labels]
    if len(known) < len(examples):
        tqdm.write(
            f"{len(examples) - len(known)} graded rows are labelled {unknown}, which the model does not answer: "
            "they count in the graded figures (polarity, band) only",
            file=sys.stderr,
        )
    result = classification_metrics(
        predictor.labels,
        [examples[i].label for i in known],
        [predictions[i].label for i in known],
        [predictions[i].score for i in known],
    )
    by_source: dict[str, list[int]] = {}
    for e, p in ((examples[i], predictions[i]) for i in known):  # rows of a class the model answers
        by_source.setdefault(e.source, [0, 0])
        by_source[e.source][0] += int(e.label == p.label)
        by_source[e.source][1] += 1
    result["accuracy_by_source"] = {s: c / n for s, (c, n) in sorted(by_source.items())}
    if binary := binary_accuracy(examples, predictions, predictor.labels):
        result["binary_accuracy_by_source"] = binary
    if graded_rows := graded_metrics(examples, predictions, predictor.labels):
        result["graded_by_source"] = graded_rows
    result["truncated"] = sum(p.tokens_total > p.tokens_used for p in predictions)
    result["model_version"] = artifact.version
    result["data"] = [describe_source(name) for name, _ in parts]  # names and hashes, never this machine's paths
    result["rows"] = selection.report
    out = Path(report_dir) if report_dir else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    if graded_rows:
        result["graded_scatter"] = {
            source: (
                [float(e.target or 0.0) for e in examples if e.source == source and e.target is not None],
                [
                    p.polarity
                    for e, p in zip(examples, predictions, strict=True)
                    if e.source == source and e.target is not None
                ],
            )
            for source in graded_rows
        }
    _plots(result, artifact.metrics.get("history", []), out)
    _markdown(result, artifact.metrics, out / "report.md")
    result.pop("graded_scatter", None)
    result["report_dir"] = str(out)
    if record:
        metrics = dict(artifact.metrics)
        metrics.setdefault("evaluations", {})[record] = {
            k: v for k, v in result.items() if k not in ("reliability", "report_dir")
        }
        (root / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return result


def binary_accuracy(
    examples: Sequence[Example], predictions: Sequence[Prediction], labels: Sequence[str]
) -> dict[str, float]:
    """Per source, for a model with more labels than negative / positive: accuracy of the argmax over
    those two on the rows labelled with them (what a two-label model's accuracy compares with)."""
    if graded.binary_pair(labels) is None:
        return {}
    hits: dict[str, list[int]] = {}
    for e, p in zip(examples, predictions, strict=True):
        if e.label in ("negative", "positive"):
            guess = "positive" if p.probabilities["positive"] > p.probabilities["negative"] else "negative"
            row = hits.setdefault(e.source, [0, 0])
            row[0] += int(guess == e.label)
            row[1] += 1
    return {s: c / n for s, (c, n) in sorted(hits.items())}


def graded_metrics(
    examples: Sequence[Example], predictions: Sequence[Prediction], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per source with graded rows: Pearson r of polarity with the human rating, 3-class accuracy and
    macro-F1, confusion, accuracy on clearly polar items, ECE. A model without neutral is read by the
    band on its polarity (as the human classes are)."""
    own = {"negative", "neutral", "positive"} <= set(labels)
    by_source: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        if e.target is not None:
            by_source.setdefault(e.source, []).append(i)
    out = {}
    for source, rows in sorted(by_source.items()):
        polarity = [predictions[i].polarity for i in rows]
        predicted = [predictions[i].label for i in rows] if own else graded.band_labels(polarity)
        out[source] = graded.report(
            polarity,
            [float(examples[i].target or 0.0) for i in rows],
            predicted,
            [examples[i].label for i in rows],
            confidence=[predictions[i].score for i in rows] if own else None,
        )
        out[source]["labels_from"] = "model" if own else "band on polarity"
    return out


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

    if result.get("graded_scatter"):
        sources = result["graded_scatter"]
        fig, axes = plt.subplots(1, len(sources), figsize=(3.6 * len(sources), 3.6), squeeze=False)
        for ax, (source, (x, y)) in zip(axes[0], sources.items(), strict=True):
            r = result["graded_by_source"][source]["pearson_r"]
            ax.scatter(x, y, s=4, alpha=0.4)
            ax.plot([-1, 1], [-1, 1], "--", color="grey")
            ax.set(
                xlabel="human mean rating / scale",
                ylabel="polarity",
                title=f"{source.split(':')[-1]} (r {r:.3f})" if r is not None else source,
                xlim=(-1, 1),
                ylim=(-1, 1),
            )
        fig.tight_layout()
        fig.savefig(out / "polarity_scatter.png", dpi=110)
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
    held = {s: r for s, r in result.get("rows", {}).get("sources", {}).items() if r["held_out_only"]}
    if held:
        counts = ", ".join(f"{s} {r['scored']} of {r['read']}" for s, r in held.items())
        lines.append(f"- the model's own training data: only the rows it held out for validation ({counts})")
    included = [
        s
        for s, r in result.get("rows", {}).get("sources", {}).items()
        if r["training_source"] and not r["held_out_only"]
    ]
    if included:
        lines.append(f"- **training rows included** for {', '.join(included)}: these scores overstate accuracy")
    if "training_time_s" in metrics:
        lines.append(f"- training time: {metrics['training_time_s']} s, best epoch {metrics.get('best_epoch')}")
    if result.get("binary_accuracy_by_source"):
        shown = ", ".join(f"{s} {a:.4f}" for s, a in result["binary_accuracy_by_source"].items())
        lines.append(f"- binary accuracy (argmax over negative / positive) by source: {shown}")
    if result.get("graded_by_source"):
        lines += [
            "",
            "| graded source | rows | neutral | Pearson r | 3-class accuracy | macro-F1 | polar accuracy | ECE |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for source, m in result["graded_by_source"].items():
            r = "-" if m["pearson_r"] is None else f"{m['pearson_r']:.3f}"
            polar = "-" if m["polar_accuracy"] is None else f"{m['polar_accuracy']:.3f}"
            ece = f"{m['ece']:.3f}" if "ece" in m else "-"
            lines.append(
                f"| {source} | {m['examples']} | {m['neutral_share']:.0%} | {r} | {m['accuracy']:.3f} | "
                f"{m['macro_f1']:.3f} | {polar} | {ece} |"
            )
    lines += ["", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for label, c in result["per_class"].items():
        lines.append(f"| {label} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |")
    lines += [
        "",
        "![training curves](training_curves.png) ![confusion matrix](confusion_matrix.png) "
        "![reliability](reliability.png)"
        + (" ![polarity](polarity_scatter.png)" if result.get("graded_scatter") else ""),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
