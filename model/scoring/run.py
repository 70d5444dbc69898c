"""Score a file: read in chunks, predict on worker processes, write parts, join them, resume."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from model.artifact import Artifact, load_artifact
from model.predictor import DEFAULT_MODEL_DIR, Predictor
from model.scoring.columns import output_schema, prediction_arrays, score_texts
from model.scoring.readers import CHUNK_CHARS, Chunk, Reader, ScoringError, detect_format, open_reader
from model.scoring.routed import RoutedScorer, RoutedScores, route_arrays, route_fields, union_labels
from model.scoring.writers import EXTENSIONS, join_parts, write_part


@dataclass
class ScoreOptions:
    source: Path
    out: Path
    in_format: str | None = None  # None: from the extension
    out_format: str | None = None
    text_column: str | None = None  # None: text, sentence, review or content, the first present
    model_dir: Path | None = None  # None: the shipped model
    # Several models, NAME -> artifact: each row read by the model of its language (model/scoring/routed.py)
    models: dict[str, Path] = field(default_factory=dict)
    language_column: str | None = None  # with models: the row's language ISO code (empty: detected) instead
    workers: int = 0  # processes that predict; 0 = one per core; 1 = in this process
    threads: int = 0  # runtime threads per process; 0 = 1 with several workers, else the runtime's default
    chunk_rows: int = 5000  # rows read, predicted and written together (a part file each)
    chunk_chars: int = CHUNK_CHARS  # ... or fewer rows, where their texts reach this many characters
    batch_size: int = 64  # texts per forward pass
    runtime: str = "auto"
    precision: str = "fp32"  # fp32, int8, bf16 or auto (model/precision.py)
    prefix: str = ""  # put before the added column names
    skip_bad: bool = False  # score the good rows, write bad ones with an error and no prediction
    resume: bool = False
    overwrite: bool = False
    progress: bool = True


@dataclass
class ScoreSummary:
    rows: int  # rows written (bad ones included with --skip-bad)
    bad_rows: int
    resumed_rows: int  # rows a previous run had already written
    out: str


Scorer = Predictor | RoutedScorer
Scores = np.ndarray | RoutedScores
_worker_scorer: Scorer | None = None


def _scorer(
    named: list[tuple[str, str]], routed: bool, batch_size: int, runtime: str, threads: int, precision: str
) -> Scorer:
    predictors = [
        (
            name,
            Predictor(
                load_artifact(path), batch_size=batch_size, runtime=runtime, threads=threads, precision=precision
            ),
        )
        for name, path in named
    ]
    return RoutedScorer(predictors) if routed else predictors[0][1]


def _start_worker(
    named: list[tuple[str, str]], routed: bool, batch_size: int, runtime: str, threads: int, precision: str
) -> None:
    global _worker_scorer
    _worker_scorer = _scorer(named, routed, batch_size, runtime, threads, precision)


def _score_with(scorer: Scorer, texts: list[str], languages: list[str | None] | None) -> Scores:
    if isinstance(scorer, RoutedScorer):
        return scorer.score(texts, languages)
    return score_texts(scorer, texts)


def _score_in_worker(texts: list[str], languages: list[str | None] | None) -> Scores:
    assert _worker_scorer is not None
    return _score_with(_worker_scorer, texts, languages)


class _Ready:
    """What a `Future` offers, for a result computed in this process."""

    def __init__(self, value: Scores) -> None:
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> Scores:
        return self.value


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _identity(options: ScoreOptions, in_format: str, out_format: str, text_column: str, version: str) -> dict[str, Any]:
    stat = options.source.stat()
    return {
        "input": {"name": options.source.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "in_format": in_format,
        "out_format": out_format,
        "text_column": text_column,
        "model_version": version,
        "precision": options.precision,
        "prefix": options.prefix,
        "skip_bad": options.skip_bad,
    }


def _prepare_parts(options: ScoreOptions, identity: dict[str, Any]) -> list[Path]:
    """Make the parts directory ready; return the whole parts a previous run left, in order."""
    parts = parts_dir(options.out)
    manifest = parts / "manifest.json"
    if options.overwrite:
        shutil.rmtree(parts, ignore_errors=True)
    elif parts.exists():
        if not options.resume:
            raise ScoringError(
                f"{parts}: a previous run was interrupted; pass --resume to continue it or --overwrite to start over"
            )
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise ScoringError(f"{manifest}: missing or unreadable; pass --overwrite to start over") from None
        for key, value in identity.items():
            # a run from before precisions existed ran fp32
            if previous.get(key, "fp32" if key == "precision" else None) != value:
                raise ScoringError(
                    f"cannot resume: {key} was {previous.get(key)!r}, now {value!r}; pass --overwrite to start over"
                )
        return _whole_parts(parts, identity["out_format"])
    elif options.out.exists():
        raise ScoringError(f"{options.out}: already exists; pass --overwrite to replace it")
    parts.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(identity, indent=2))
    return []


def _part_name(index: int, rows: int, fmt: str) -> str:
    return f"part-{index:06d}-{rows}rows{EXTENSIONS[fmt]}"


def _whole_parts(parts: Path, fmt: str) -> list[Path]:
    """The parts a previous run completed, in order (a part is renamed into place when whole)."""
    found = {int(p.name.split("-")[1]): p for p in parts.glob(f"part-*rows{EXTENSIONS[fmt]}")}
    whole: list[Path] = []
    while len(whole) in found:
        whole.append(found[len(whole)])
    return whole


def _rows_in(part: Path) -> int:
    return int(part.name.split("-")[2].removesuffix(part.suffix).removesuffix("rows"))


def score_file(options: ScoreOptions) -> ScoreSummary:
    """Score every row of `options.source` into `options.out`; raise ScoringError on bad input."""
    if options.chunk_rows < 1 or options.batch_size < 1 or options.workers < 0 or options.threads < 0:
        raise ScoringError("--chunk-rows and --batch-size must be positive, --workers and --threads not negative")
    if options.chunk_chars < 1:
        raise ScoringError("chunk_chars must be positive")
    in_format = detect_format(options.source, options.in_format, "--in-format")
    out_format = detect_format(options.out, options.out_format, "--out-format")
    if options.source.resolve() == options.out.resolve():
        raise ScoringError(f"{options.out}: the output would overwrite the input")
    if options.resume and options.out.exists() and not parts_dir(options.out).exists() and not options.overwrite:
        print(f"{options.out}: already complete, nothing to resume", file=sys.stderr)
        return ScoreSummary(rows=0, bad_rows=0, resumed_rows=0, out=str(options.out))
    if options.models and options.model_dir is not None:
        raise ScoringError("--model and --models are both given: name that artifact in --models instead")
    if options.language_column is not None and not options.models:
        raise ScoringError("--language-column routes rows between --models; with one model there is nothing to route")
    named = {name: Path(d) for name, d in options.models.items()} or {"": Path(options.model_dir or DEFAULT_MODEL_DIR)}
    artifacts = {name: load_artifact(d) for name, d in named.items()}
    reader = open_reader(options.source, in_format, options.text_column)
    try:
        if options.language_column is not None and options.language_column not in reader.schema.names:
            raise ScoringError(
                f"{options.source}: no language column {options.language_column!r} (columns: {reader.schema.names})"
            )
        return _score(options, reader, artifacts, named, out_format)
    finally:
        reader.close()


def _languages(chunk: Chunk, column: str | None) -> list[str | None] | None:
    """The good rows' languages from the input's column (empty or missing: detected), or None to detect all."""
    if column is None:
        return None
    values = chunk.table.column(column).to_pylist()
    return [
        (str(v).strip() or None) if v is not None else None
        for v, text in zip(values, chunk.texts, strict=True)
        if text is not None
    ]


def _score(
    options: ScoreOptions, reader: Reader, artifacts: dict[str, Artifact], named: dict[str, Path], out_format: str
) -> ScoreSummary:
    routed = bool(options.models)
    if routed:
        labels = union_labels([a.config.labels for a in artifacts.values()])
    else:
        labels = list(next(iter(artifacts.values())).config.labels)
    try:
        schema = output_schema(reader.schema, labels, options.prefix, options.skip_bad)
        if routed:
            schema = _with_route_fields(schema, options.prefix)
    except ValueError as exc:
        raise ScoringError(f"{options.source}: {exc}") from None
    version = "+".join(f"{n}={a.version}" for n, a in artifacts.items()) if routed else artifacts[""].version
    identity = _identity(options, reader.in_format, out_format, reader.text_column, version)
    previous = _prepare_parts(options, identity)
    resumed = sum(_rows_in(p) for p in previous)
    workers = options.workers or os.cpu_count() or 1
    threads = options.threads or (1 if workers > 1 else 0)
    pool: ProcessPoolExecutor | None = None
    scorer: Scorer | None = None
    paths = [(name, str(path)) for name, path in named.items()]
    if workers > 1:
        # A worker that dies (killed for memory) fails the run with BrokenProcessPool instead of
        # hanging it, as multiprocessing.Pool would. Workers only tokenise and run the model.
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        pool = ProcessPoolExecutor(
            workers,
            context,
            _start_worker,
            (paths, routed, options.batch_size, options.runtime, threads, options.precision),
        )
    else:
        scorer = _scorer(paths, routed, options.batch_size, options.runtime, threads, options.precision)
    parts = parts_dir(options.out)
    rows = bad = 0
    bar = tqdm(
        total=reader.total,
        unit=reader.unit,
        unit_scale=True,
        desc=f"score {options.source.name}",
        disable=not options.progress,
        dynamic_ncols=True,
        mininterval=0.2 if sys.stderr.isatty() else 10.0,
    )
    written: list[Path] = list(previous)
    pending: deque[tuple[int, Chunk, Future[Scores] | _Ready]] = deque()

    def finish_oldest() -> None:
        nonlocal rows, bad
        index, chunk, result = pending.popleft()
        scores = result.result()
        matrix = scores.scores if isinstance(scores, RoutedScores) else scores
        added = prediction_arrays(matrix, labels, chunk.problems, options.prefix, options.skip_bad)
        if isinstance(scores, RoutedScores):  # its columns after the prediction's, before `error`
            route = route_arrays(scores, chunk.problems)
            added = [*added[:-1], *route, added[-1]] if options.skip_bad else [*added, *route]
        table = pa.Table.from_arrays([*chunk.table.columns, *added], schema=schema)
        name = parts / _part_name(index, table.num_rows, out_format)
        write_part(table, name, out_format)
        written.append(name)
        rows += table.num_rows
        bad += sum(p is not None for p in chunk.problems)

    try:
        index = len(previous)
        bar.update(0)
        for chunk in reader.chunks(options.chunk_rows, skip_rows=resumed, chunk_chars=options.chunk_chars):
            first_bad = next((p for p in chunk.problems if p is not None), None)
            if first_bad is not None and not options.skip_bad:
                shutil.rmtree(parts, ignore_errors=True)  # nothing to resume: the same row would stop it again
                raise ScoringError(first_bad + " (pass --skip-bad to skip such rows)")
            good = [t for t in chunk.texts if t is not None]
            languages = _languages(chunk, options.language_column)
            result: Future[Scores] | _Ready
            if pool is not None:
                result = pool.submit(_score_in_worker, good, languages)
            else:
                assert scorer is not None
                result = _Ready(_score_with(scorer, good, languages))
            pending.append((index, chunk, result))
            index += 1
            # At most two chunks per worker in flight: memory stays flat however large the input.
            while pending and (len(pending) > 2 * workers or pending[0][2].done()):
                finish_oldest()
            bar.update(reader.position - bar.n)
        while pending:
            finish_oldest()
        bar.update(reader.position - bar.n)
        join_parts(written, options.out, out_format, schema)
        shutil.rmtree(parts)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return ScoreSummary(rows=rows + resumed, bad_rows=bad, resumed_rows=resumed, out=str(options.out))


def _with_route_fields(schema: pa.Schema, prefix: str) -> pa.Schema:
    """The routed columns after the prediction's (before `error`, which stays last)."""
    fields = route_fields(prefix)
    clash = [f.name for f in fields if f.name in schema.names]
    if clash:
        raise ValueError(f"the input already has a column named {clash[0]!r}; pass a prefix (--prefix pred_)")
    own = list(schema)
    at = len(own) - 1 if own and own[-1].name == prefix + "error" else len(own)
    return pa.schema([*own[:at], *fields, *own[at:]])


def summary_json(summary: ScoreSummary) -> str:
    return json.dumps(asdict(summary))
