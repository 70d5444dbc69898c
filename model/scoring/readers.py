"""Stream a table of texts in chunks: CSV, TSV, JSONL or Parquet, never read whole.

A chunk holds the input's own columns (a pyarrow Table), the text of each row, and for a bad row
(missing or empty text, a line that is not UTF-8, a JSONL line that is not a JSON object, a CSV
row with more fields than the header) its `file:line: problem` instead of a text. CSV and TSV
are read as the training readers read them (TSV without quoting); their columns stay text, as
written, so ids like "00123" keep their zeros.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("csv", "tsv", "jsonl", "parquet")
CHUNK_CHARS = 4_000_000  # a chunk ends early at this much text: long rows must not make chunks large
TEXT_COLUMNS = ("text", "sentence", "review", "content")  # tried in order when none is named (as training's readers)
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class ScoringError(Exception):
    """Input or output that cannot be scored; the message names the file (and line)."""


@dataclass
class Chunk:
    table: pa.Table  # the input's own columns, rows in input order
    texts: list[str | None]  # None where the row is bad
    problems: list[str | None]  # "file:line: problem" where the row is bad


def detect_format(path: Path, given: str | None, flag: str) -> str:
    """Return the format named by `given`, else by the file's extension, else raise."""
    if given is not None:
        if given not in FORMATS:
            raise ScoringError(f"{flag} must be one of {FORMATS}, not {given!r}")
        return given
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ScoringError(f"{path}: unknown format (expected .csv, .tsv, .jsonl or .parquet; or pass {flag})")
    return fmt


def pick_text_column(path: Path, columns: Sequence[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ScoringError(f"{path}: no text column {wanted!r} (columns: {list(columns)})")
        return wanted
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    raise ScoringError(f"{path}: no text column found; name it with --text-column (columns: {list(columns)})")


def text_problem(value: object, column: str) -> str | None:
    """Why `value` cannot be scored as a text, or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"empty or missing text in column {column!r}"
    if not isinstance(value, str):
        return f"text in column {column!r} is not a string ({type(value).__name__})"
    return None


class Reader:
    """Base of the format readers: `columns`, `schema`, `text_column`, `chunks()` and progress."""

    path: Path
    schema: pa.Schema
    text_column: str
    in_format: str
    unit = "B"  # what `position` and `total` count

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def total(self) -> int:
        return self.path.stat().st_size

    position = 0

    def chunks(self, chunk_rows: int, skip_rows: int = 0, chunk_chars: int = CHUNK_CHARS) -> Iterator[Chunk]:
        """Chunks of `chunk_rows` rows, or fewer where their texts reach `chunk_chars` characters."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _LineReader(Reader):
    """Reads bytes line by line (one decode per line, so one bad line stays one bad row)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] = path.open("rb")
        self.position = 0
        self._line = 0  # lines handed out so far
        self.bad_lines: dict[int, str] = {}

    def _decoded(self) -> Iterator[str]:
        for raw in self._handle:
            self.position += len(raw)
            self._line += 1
            if self._line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte order mark
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad_lines[self._line] = f"not UTF-8 text (byte {exc.start} of the line)"
                yield raw.decode("utf-8", errors="replace")

    def close(self) -> None:
        self._handle.close()


class DelimitedReader(_LineReader):
    def __init__(self, path: Path, delimiter: str, text_column: str | None) -> None:
        super().__init__(path)
        try:
            self._start(delimiter, text_column)
        except BaseException:
            self.close()
            raise

    def _start(self, delimiter: str, text_column: str | None) -> None:
        path = self.path
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a long review is not an error
        self._rows = csv.reader(
            self._decoded(), delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        )
        first = self._next_record()
        if first is None:
            raise ScoringError(f"{path}: empty file (a header line names the columns)")
        header = first[1]
        if len(set(header)) != len(header):
            raise ScoringError(f"{path}:1: the header names a column twice ({header})")
        self.schema = pa.schema([(name, pa.string()) for name in header])
        self.text_column = pick_text_column(path, header, text_column)

    def _next_record(self) -> tuple[int, list[str]] | None:
        """(first line, fields) of the next non-blank record, or None at the end."""
        while True:
            start = self._line + 1
            try:
                fields = next(self._rows, None)
            except csv.Error as exc:
                raise ScoringError(f"{self.path}:{start}: {exc}") from None
            if fields is None:
                return None
            if fields:
                return start, fields

    def chunks(self, chunk_rows: int, skip_rows: int = 0, chunk_chars: int = CHUNK_CHARS) -> Iterator[Chunk]:
        for _ in range(skip_rows):
            if self._next_record() is None:
                return
        self.bad_lines.clear()
        width, text_index = len(self.schema), self.schema.names.index(self.text_column)
        while True:
            columns: list[list[str | None]] = [[] for _ in range(width)]
            texts: list[str | None] = []
            problems: list[str | None] = []
            chars = 0
            while len(texts) < chunk_rows and chars < chunk_chars:
                record = self._next_record()
                if record is None:
                    break
                start, fields = record
                problem = next((p for line, p in self.bad_lines.items() if start <= line <= self._line), None)
                self.bad_lines.clear()
                if len(fields) > width:
                    problem = problem or f"{len(fields)} fields, the header has {width}"
                    fields = fields[:width]
                values: list[str | None] = [*fields, *([None] * (width - len(fields)))]
                problem = problem or text_problem(values[text_index], self.text_column)
                for column, value in zip(columns, values, strict=True):
                    column.append(value)
                texts.append(None if problem else values[text_index])
                problems.append(f"{self.path}:{start}: {problem}" if problem else None)
                chars += sum(len(v) for v in fields)
            if not texts:
                return
            yield Chunk(
                pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=self.schema), texts, problems
            )


class JsonlReader(_LineReader):
    """One JSON object a line. The keys of the first rows are the columns; later rows keep to them."""

    def __init__(self, path: Path, text_column: str | None, sample_rows: int = 1000) -> None:
        super().__init__(path)
        try:
            self._start(text_column, sample_rows)
        except BaseException:
            self.close()
            raise

    def _start(self, text_column: str | None, sample_rows: int) -> None:
        path = self.path
        self._lines = self._numbered()
        self._wanted = text_column
        self._sample: list[tuple[int, Any, str | None]] = []  # rows read to learn the columns
        keys: dict[str, None] = {}
        for item in self._lines:
            self._sample.append(item)
            if isinstance(item[1], dict):
                keys.update(dict.fromkeys(item[1]))
            if len(self._sample) >= sample_rows:
                break
        if not self._sample:
            raise ScoringError(f"{path}: empty file (no JSON lines)")
        self.text_column = pick_text_column(path, list(keys), text_column)
        objects = [obj for _, obj, _ in self._sample if isinstance(obj, dict)]
        self.schema = pa.schema([(key, _infer([o.get(key) for o in objects])) for key in keys])

    def _numbered(self) -> Iterator[tuple[int, Any, str | None]]:
        """(line, parsed object or None, problem) for each non-blank line."""
        for content in self._decoded():
            line = self._line
            if not content.strip():
                continue
            if line in self.bad_lines:
                yield line, None, self.bad_lines.pop(line)
                continue
            try:
                yield line, json.loads(content), None
            except json.JSONDecodeError as exc:
                yield line, None, f"not valid JSON ({exc.msg})"

    def _records(self) -> Iterator[tuple[int, Any, str | None]]:
        yield from self._sample
        self._sample = []
        yield from self._lines

    def chunks(self, chunk_rows: int, skip_rows: int = 0, chunk_chars: int = CHUNK_CHARS) -> Iterator[Chunk]:
        records = self._records()
        for _ in range(skip_rows):
            if next(records, None) is None:
                return
        names = set(self.schema.names)
        while True:
            rows: list[dict[str, Any]] = []
            texts: list[str | None] = []
            problems: list[str | None] = []
            chars = 0
            for line, obj, problem in records:
                if problem is None and not isinstance(obj, dict):
                    problem = "not a JSON object"
                if problem is None:
                    extra = [k for k in obj if k not in names]
                    if extra:
                        problem = f"key {extra[0]!r} is not among the columns of the first rows {self.schema.names}"
                # A row whose text is bad keeps its own columns; one that does not fit the columns is left empty.
                keep = problem is None
                if problem is None:
                    problem = text_problem(obj.get(self.text_column), self.text_column)
                if keep and not _fits(obj, self.schema):
                    keep = False
                    problem = problem or "a value does not have the type of its column in the first rows"
                rows.append(obj if keep else {})
                texts.append(None if problem else obj[self.text_column])
                problems.append(f"{self.path}:{line}: {problem}" if problem else None)
                chars += len(texts[-1] or "")
                if len(rows) >= chunk_rows or chars >= chunk_chars:
                    break
            if not rows:
                return
            yield Chunk(pa.Table.from_pylist(rows, schema=self.schema), texts, problems)


def _infer(values: list[Any]) -> pa.DataType:
    """The column's type in the sampled rows; where they disagree, the first value's (others are bad rows)."""
    try:
        kind = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        kind = pa.array([next(v for v in values if v is not None)]).type
    return pa.string() if pa.types.is_null(kind) else kind  # null in every sampled row: taken as text


def _fits(obj: dict[str, Any], schema: pa.Schema) -> bool:
    try:
        pa.Table.from_pylist([obj], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False
    return True


class ParquetReader(Reader):
    unit = "rows"

    def __init__(self, path: Path, text_column: str | None) -> None:
        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise ScoringError(f"{path}: not a readable Parquet file ({exc})") from None
        self.schema = self._file.schema_arrow
        self.text_column = pick_text_column(path, self.schema.names, text_column)
        kind = self.schema.field(self.text_column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ScoringError(f"{path}: text column {self.text_column!r} holds {kind}, not strings")
        self.position = 0

    @property
    def total(self) -> int:
        return int(self._file.metadata.num_rows)

    def chunks(self, chunk_rows: int, skip_rows: int = 0, chunk_chars: int = CHUNK_CHARS) -> Iterator[Chunk]:
        pending: list[pa.Table] = []
        held = held_bytes = 0
        row = skip_rows
        for batch in self._file.iter_batches(batch_size=min(chunk_rows, 1024)):
            table = pa.Table.from_batches([batch])
            if skip_rows:
                drop = min(skip_rows, table.num_rows)
                skip_rows -= drop
                table = table.slice(drop)
                if not table.num_rows:
                    continue
            pending.append(table)
            held += table.num_rows
            held_bytes += table.column(self.text_column).nbytes
            if held >= chunk_rows or held_bytes >= chunk_chars:
                whole = pa.concat_tables(pending)
                take = min(chunk_rows, whole.num_rows)
                yield self._chunk(whole.slice(0, take), row)
                row += take
                rest = whole.slice(take)
                pending, held = [rest], rest.num_rows
                held_bytes = rest.column(self.text_column).nbytes if rest.num_rows else 0
        if held:
            yield self._chunk(pa.concat_tables(pending), row)

    def _chunk(self, table: pa.Table, first_row: int) -> Chunk:
        texts: list[str | None] = []
        problems: list[str | None] = []
        for offset, value in enumerate(table.column(self.text_column).to_pylist()):
            problem = text_problem(value, self.text_column)
            texts.append(None if problem else value)
            problems.append(f"{self.path}:row {first_row + offset + 1}: {problem}" if problem else None)
        self.position = first_row + table.num_rows
        return Chunk(table.combine_chunks(), texts, problems)


def open_reader(path: Path, fmt: str, text_column: str | None) -> Reader:
    if not path.is_file():
        raise ScoringError(f"{path}: no such file")
    reader: Reader
    if fmt == "parquet":
        reader = ParquetReader(path, text_column)
    elif fmt == "jsonl":
        reader = JsonlReader(path, text_column)
    else:
        reader = DelimitedReader(path, "\t" if fmt == "tsv" else ",", text_column)
    reader.in_format = fmt
    return reader
