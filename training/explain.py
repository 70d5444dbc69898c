"""`python -m training explain`: a prediction with its words coloured by weight, or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from model import Explanation, load_predictor
from model.sentences import is_mixed


def add_parser(commands: Any) -> None:
    explain = commands.add_parser(
        "explain", help="explain predictions: which words drove them (occlusion), optionally per sentence"
    )
    explain.add_argument("text", nargs="*", help="texts to explain (or --file)")
    explain.add_argument("--model", default=None, help="artifact directory (default: the shipped model)")
    explain.add_argument("--file", help="read texts from this file, one per line ('-' for stdin)")
    explain.add_argument("--json", action="store_true", help="print JSON (one document per text) instead of colours")
    explain.add_argument("--sentences", action="store_true", help="also predict each sentence")
    explain.add_argument(
        "--method",
        choices=["occlusion", "integrated_gradients"],
        default="occlusion",
        help="attribution method (integrated_gradients needs torch and captum)",
    )
    explain.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto", help="inference runtime")


def run(args: argparse.Namespace) -> int:
    texts = list(args.text)
    if args.file:
        handle = sys.stdin if args.file == "-" else Path(args.file).open(encoding="utf-8")
        with handle:
            texts += [line.rstrip("\n") for line in handle if line.strip()]
    if not texts:
        print("error: give texts as arguments or with --file", file=sys.stderr)
        return 2
    predictor = load_predictor(args.model, runtime=args.runtime)
    explanations = predictor.explain(texts, method=args.method)
    sentences = predictor.sentences(texts) if args.sentences else [None] * len(texts)
    for text, explanation, sentence in zip(texts, explanations, sentences, strict=True):
        document = to_document(explanation, sentence)
        if args.json:
            print(json.dumps(document, ensure_ascii=False))
        else:
            show(text, explanation, document)
    return 0


def to_document(explanation: Explanation, sentences: Any) -> dict[str, Any]:
    p = explanation.prediction
    document: dict[str, Any] = {
        "label": p.label,
        "score": p.score,
        "probabilities": p.probabilities,
        "polarity": p.polarity,
        "tokens_used": p.tokens_used,
        "tokens_total": p.tokens_total,
        "truncated": p.tokens_total > p.tokens_used,
        "explanation": {
            "method": explanation.method,
            "tokens": [
                {"text": t.text, "start": t.start, "end": t.end, "weight": t.weight, "read": t.read}
                for t in explanation.tokens
            ],
        },
    }
    if sentences is not None:
        document["mixed"] = is_mixed(s.prediction for s in sentences)
        document["sentences"] = [
            {
                "start": s.start,
                "end": s.end,
                "label": s.prediction.label,
                "score": s.prediction.score,
                "probabilities": s.prediction.probabilities,
                "polarity": s.prediction.polarity,
            }
            for s in sentences
        ]
    return document


def show(text: str, explanation: Explanation, document: dict[str, Any]) -> None:
    """Print the text as typed, each token's characters green (toward the label) or red (against)."""
    from rich.console import Console
    from rich.text import Text

    console = Console()
    p = explanation.prediction
    scale = max((abs(t.weight) for t in explanation.tokens), default=0.0) or 1.0
    shown = Text(text)
    for t in explanation.tokens:
        strength = abs(t.weight) / scale
        if strength < 0.05:
            continue
        level = int(80 + 175 * strength)
        colour = f"rgb(0,{level},0)" if t.weight > 0 else f"rgb({level},0,0)"
        shown.stylize(f"bold {colour}" if strength > 0.5 else colour, t.start, t.end)
    mixed = "  [bold]mixed[/bold]" if document.get("mixed") else ""
    console.print(
        f"[bold]{p.label}[/bold] {p.score:.3f}  polarity {p.polarity:+.3f}{mixed}  "
        f"({explanation.method}; green: toward {p.label}, red: against)"
    )
    console.print(shown)
    top = sorted(explanation.tokens, key=lambda t: -abs(t.weight))[:5]
    console.print("strongest: " + ", ".join(f"{t.text} {t.weight:+.3f}" for t in top))
    for s in document.get("sentences") or []:
        console.print(
            f"  [{s['start']}:{s['end']}] {s['label']} {s['score']:.3f} {s['polarity']:+.3f}  "
            f"{text[s['start'] : s['end']]}"
        )
    console.print()
