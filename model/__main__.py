"""`python -m model score --in FILE --out FILE`: score a whole file with the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("csv", "tsv", "jsonl", "parquet")


def _models(value: str) -> dict[str, Path]:
    models: dict[str, Path] = {}
    for pair in (p.strip() for p in value.split(",") if p.strip()):
        name, sep, directory = pair.partition("=")
        if not sep or not name or not directory:
            raise argparse.ArgumentTypeError(f"{pair!r} is not NAME=DIR (e.g. en=model/default,zh=model/zh)")
        if name in models:
            raise argparse.ArgumentTypeError(f"model name {name!r} is given twice")
        models[name] = Path(directory)
    if not models:
        raise argparse.ArgumentTypeError("expected NAME=DIR[,NAME=DIR...]")
    return models


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model", description="Use the sentiment model without a server.")
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser(
        "score",
        help="score every row of a CSV / TSV / JSONL / Parquet file; predictions beside the input's columns",
        description=(
            "Stream FILE in chunks, predict on every core, write the input's columns followed by label, score, "
            "prob_<label> per label and polarity (signed strength in [-1, 1]). Exit status: 0 done, 2 bad input or "
            "refused output, 130 interrupted (continue with --resume)."
        ),
    )
    score.add_argument("--in", dest="source", required=True, type=Path, metavar="FILE", help="input file")
    score.add_argument("--out", required=True, type=Path, metavar="FILE", help="output file (appears when complete)")
    score.add_argument("--in-format", choices=FORMATS, help="input format (default: from the extension)")
    score.add_argument("--out-format", choices=FORMATS, help="output format (default: from the extension)")
    score.add_argument("--text-column", help="column/key holding the text (default: text, sentence, review or content)")
    score.add_argument("--model", type=Path, help="artifact directory (default: the shipped model)")
    score.add_argument(
        "--models",
        type=_models,
        default={},
        metavar="NAME=DIR,...",
        help="several artifacts, each row read by the one of its language (as the service routes; e.g. "
        "en=model/default,zh=model/zh); adds language, model and supported columns",
    )
    score.add_argument(
        "--language-column",
        help="with --models: the column holding each row's language code (en, zh; empty: detected)",
    )
    score.add_argument(
        "--workers", type=int, default=0, help="processes that predict (0 = one per core; 1 = this process only)"
    )
    score.add_argument(
        "--threads",
        type=int,
        default=0,
        help="runtime threads per process (0 = 1 with several workers, else the runtime's default)",
    )
    score.add_argument("--chunk-rows", type=int, default=5000, help="rows read, predicted and written together")
    score.add_argument(
        "--chunk-chars",
        type=int,
        default=4_000_000,
        help="a chunk ends early when its texts reach this many characters (bounds memory on long texts)",
    )
    score.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (length-sorted)")
    score.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto", help="inference runtime")
    score.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8", "bf16"],
        default="fp32",
        help="arithmetic of the forward pass (model/precision.py); auto = the fastest this CPU runs well that "
        "agrees with fp32 on a self-check at load, else fp32",
    )
    score.add_argument("--prefix", default="", help="put before the added column names (e.g. pred_)")
    score.add_argument(
        "--skip-bad",
        action="store_true",
        help="keep going past bad rows: written with an error column and no prediction, and counted",
    )
    mode = score.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an interrupted run into the same --out")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing output or interrupted run")
    score.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from model.artifact import ArtifactError

    try:
        from model.scoring import ScoreOptions, ScoringError, score_file
        from model.scoring.run import summary_json
    except ImportError as exc:
        print(f"error: {exc.name} is not installed; pip install '.[score]' (pyarrow, pandas, tqdm)", file=sys.stderr)
        return 2

    options = ScoreOptions(
        source=args.source,
        out=args.out,
        in_format=args.in_format,
        out_format=args.out_format,
        text_column=args.text_column,
        model_dir=args.model,
        models=args.models,
        language_column=args.language_column,
        workers=args.workers,
        threads=args.threads,
        chunk_rows=args.chunk_rows,
        chunk_chars=args.chunk_chars,
        batch_size=args.batch_size,
        runtime=args.runtime,
        precision=args.precision,
        prefix=args.prefix,
        skip_bad=args.skip_bad,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    try:
        summary = score_file(options)
    except (ScoringError, ArtifactError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; continue with --resume (whole parts are kept in {args.out}.parts)", file=sys.stderr)
        return 130
    if summary.bad_rows:
        print(f"skipped {summary.bad_rows} bad rows (their error column says why)", file=sys.stderr)
    print(summary_json(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
