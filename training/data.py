"""Dataset readers: the aclImdb layout (tarball or folder), CSV, TSV and JSONL.

Rows are labelled (a label column) or graded (a rating column, e.g. the VADER corpora's
`mean_rating` on -4 .. +4): a graded row's label comes from its rating (rating / scale at or above
`neutral_band`: positive, at or below -`neutral_band`: negative, else neutral, as Hutto & Gilbert
2014 class them) and it also keeps the rating / scale as its polarity target. A `domain` column
names a sub-source ("vader_icwsm2014_train:tweets"), so splits and metrics go per domain.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEXT_COLUMNS = ("text", "sentence", "review", "content")  # tried in order when none is named
LABEL_COLUMNS = ("label", "sentiment", "polarity")
RATING_COLUMNS = ("mean_rating", "rating")  # graded rows, tried when no label column is present
DOMAIN_COLUMNS = ("domain",)  # a sub-source of the file: split and reported on its own
NEUTRAL_BAND = 0.05  # |rating / scale| below this is neutral (Hutto & Gilbert 2014)
IMDB_LABELS = {"pos": "positive", "neg": "negative"}
DATABASE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # sqlite:///..., postgresql+psycopg://...
_IMDB_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/[^/]+\.txt$")


class DataError(Exception):
    """Input that cannot be read as a dataset; the message names the file (and line)."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str  # short dataset name, for per-source metrics ("imdb", "sst2_train", "vader:tweets")
    target: float | None = None  # graded rows: the human rating / scale in [-1, 1] (polarity target)


def file_source(source: str) -> str:
    """The file part of a source name: "vader_icwsm2014_train:tweets" -> "vader_icwsm2014_train"."""
    return source.split(":", 1)[0]


def renamed(example: Example, name: str) -> Example:
    """`example` under the file source `name`, its domain kept ("a:tweets" as "b" -> "b:tweets")."""
    return dataclasses.replace(example, source=name + example.source[len(file_source(example.source)) :])


def recorded_options(read: Mapping[str, Any]) -> ReadOptions:
    """Read options as metrics.json records them beside a training file ("read"), bad rows skipped."""
    return ReadOptions(
        read.get("text_column"),
        read.get("label_column"),
        read.get("label_map") or {},
        True,
        rating_column=read.get("rating_column"),
        rating_scale=float(read["rating_scale"]) if read.get("rating_scale") is not None else 4.0,
        neutral_band=float(read["neutral_band"]) if read.get("neutral_band") is not None else NEUTRAL_BAND,
    )


def label_for_rating(polarity: float, neutral_band: float) -> str:
    """negative / neutral / positive for a rating / scale (Hutto & Gilbert 2014: band 0.05)."""
    if polarity >= neutral_band:
        return "positive"
    if polarity <= -neutral_band:
        return "negative"
    return "neutral"


@dataclass
class ReadOptions:
    text_column: str | None = None  # None: the first of TEXT_COLUMNS present
    label_column: str | None = None  # None: the first of LABEL_COLUMNS present
    label_map: Mapping[str, str] = field(default_factory=dict)  # raw label -> label name
    skip_bad: bool = False  # count and skip bad rows instead of stopping at the first one
    skipped: list[str] = field(default_factory=list)  # "file:line: reason" of each skipped row
    notes: list[str] = field(default_factory=list)  # what a reader left out on purpose (e.g. unlogged texts)
    rating_column: str | None = None  # graded rows; None: the first of RATING_COLUMNS when no label column
    rating_scale: float = 4.0  # ratings run from -scale to +scale (VADER's corpora: -4 .. +4)
    neutral_band: float = NEUTRAL_BAND  # |rating / scale| below this is neutral


def is_database_url(value: str) -> bool:
    return bool(DATABASE_URL.match(value))


def detect_format(path: Path) -> str:
    """Return "imdb", "csv", "tsv" or "jsonl" for `path`, or raise DataError."""
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "aclImdb").is_dir() or (path / "train" / "pos").is_dir() or (path / "test" / "pos").is_dir():
            return "imdb"
        raise DataError(f"{path}: a directory must hold the aclImdb layout ({{train,test}}/{{pos,neg}})")
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "imdb"
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if name.endswith(suffix):
            return fmt
    raise DataError(f"{path}: unknown format (expected .csv, .tsv, .jsonl, an aclImdb folder or .tar.gz)")


def read_dataset(path: str | Path, *, split: str = "train", options: ReadOptions | None = None) -> list[Example]:
    """Read labelled examples from `path`; `split` picks train or test for IMDB.

    `path` may also be the service's log database URL (`sqlite:///data/requests.db`,
    `postgresql+psycopg://...`): its feedback, each with the text of the prediction it corrects.
    """
    options = options or ReadOptions()
    if isinstance(path, str) and is_database_url(path):
        from training.feedback import read_feedback  # SQLAlchemy only when a database is read

        examples, unlogged = read_feedback(path)
        if unlogged:
            options.notes.append(f"{path}: skipped {unlogged} feedback rows whose text was not logged (hash/none mode)")
        if not examples:
            raise DataError(f"{path}: no feedback with a logged text found")
        return examples
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "imdb":
        examples = [Example(t, IMDB_LABELS[k], "imdb") for k, t in iter_imdb(path, split=split, kinds=("pos", "neg"))]
    elif fmt == "jsonl":
        examples = list(_read_jsonl(path, options))
    else:
        examples = list(_read_delimited(path, "\t" if fmt == "tsv" else ",", options))
    if not examples:
        raise DataError(f"{path}: no labelled examples found")
    return examples


def iter_imdb(path: Path, *, split: str, kinds: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Yield (kind, text) for reviews of `split` whose folder is one of `kinds`, sorted by file."""
    if split not in ("train", "test"):
        raise ValueError("split is train or test")
    found: list[tuple[str, str, str]] = []  # (member name, kind, text)
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for kind in kinds:
            for file in sorted((root / split / kind).glob("*.txt")):
                found.append((f"{kind}/{file.name}", kind, file.read_text(encoding="utf-8", errors="replace")))
    else:
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    match = _IMDB_MEMBER.search(member.name)
                    if not match or match.group(1) != split or match.group(2) not in kinds:
                        continue
                    handle = archive.extractfile(member)
                    if handle is not None:
                        text = handle.read().decode("utf-8", errors="replace")
                        found.append((f"{match.group(2)}/{member.name.rsplit('/', 1)[-1]}", match.group(2), text))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable tar archive ({exc})") from None
    for _, kind, text in sorted(found):  # archive order is not alphabetical; make it so
        yield kind, text


def _source(path: Path) -> str:
    return path.name.split(".")[0]


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}: no {what} column {wanted!r} (columns: {list(columns)})")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise DataError(f"{path}: no {what} column found; name it (columns: {list(columns)})")


def _row(
    path: Path,
    line: int,
    raw: Mapping[str, object],
    text_col: str,
    label_col: str,
    options: ReadOptions,
    *,
    graded: bool = False,
    domain_col: str | None = None,
) -> Example | None:
    text, label = raw.get(text_col), raw.get(label_col)
    problem = None
    source = _source(path)
    domain = raw.get(domain_col) if domain_col is not None else None
    if domain is not None and not isinstance(domain, (dict, list)) and str(domain).strip():
        source = f"{source}:{str(domain).strip()}"
    if not isinstance(text, str) or not text.strip():
        problem = f"empty or missing text in column {text_col!r}"
    elif graded:
        rating = _number(label)
        if rating is None:
            problem = f"rating {label!r} in column {label_col!r} is not a finite number"
        elif abs(rating) > options.rating_scale:
            scale = f"{options.rating_scale:g}"
            problem = f"rating {rating} in column {label_col!r} lies outside -{scale} .. +{scale} (--rating-scale)"
        else:
            polarity = rating / options.rating_scale
            return Example(text, label_for_rating(polarity, options.neutral_band), source, polarity)
    elif label is None or isinstance(label, (dict, list)) or str(label).strip() == "":
        problem = f"empty or missing label in column {label_col!r}"
    else:
        name = str(label).strip()
        if options.label_map:
            if name not in options.label_map:
                problem = f"label {name!r} is not in the label map {sorted(options.label_map)}"
            else:
                name = options.label_map[name]
        if problem is None:
            return Example(text, name, source)
    where = f"{path}:{line}: {problem}"
    if not options.skip_bad:
        raise DataError(where + " (pass --skip-bad to skip such rows)")
    options.skipped.append(where)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _columns(columns: Sequence[str], options: ReadOptions, path: Path) -> tuple[str, bool, str | None]:
    """The label (or rating) column, whether rows are graded, and the domain column if any."""
    domain = next((c for c in DOMAIN_COLUMNS if c in columns), None)
    if options.rating_column is not None:
        if options.label_column is not None or options.label_map:
            raise DataError(
                f"{path}: --rating-column reads graded rows; it cannot go with --label-column or --label-map"
            )
        return _pick(columns, options.rating_column, (), "rating", path), True, domain
    if options.label_column is None and not any(c in columns for c in LABEL_COLUMNS):
        rating = next((c for c in RATING_COLUMNS if c in columns), None)
        if rating is not None:
            return rating, True, domain
    return _pick(columns, options.label_column, LABEL_COLUMNS, "label", path), False, domain


def _jsonl_columns(raw: Mapping[str, object], options: ReadOptions) -> tuple[str, bool, str | None]:
    """As `_columns`, per JSON line; a missing column is that line's problem, not the file's."""
    domain = next((c for c in DOMAIN_COLUMNS if c in raw), None)
    if options.rating_column is not None:
        return options.rating_column, True, domain
    label = options.label_column or next((c for c in LABEL_COLUMNS if c in raw), None)
    if label is not None:
        return label, False, domain
    rating = next((c for c in RATING_COLUMNS if c in raw), None)
    return (rating, True, domain) if rating is not None else ("label", False, domain)


def _read_delimited(path: Path, delimiter: str, options: ReadOptions) -> Iterator[Example]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(
                handle, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
            )
            columns = reader.fieldnames or []
            if not columns:
                raise DataError(f"{path}: empty file (a header line names the columns)")
            text_col = _pick(columns, options.text_column, TEXT_COLUMNS, "text", path)
            label_col, graded, domain_col = _columns(columns, options, path)
            for raw in reader:
                line = reader.line_num
                # A row with more fields than the header is refused like one with an empty text.
                row = {} if None in raw else raw
                example = _row(path, line, row, text_col, label_col, options, graded=graded, domain_col=domain_col)
                if example is not None:
                    yield example
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: {exc}") from None


def _read_jsonl(path: Path, options: ReadOptions) -> Iterator[Example]:
    try:
        with path.open(encoding="utf-8") as handle:
            for line, content in enumerate(handle, start=1):
                if not content.strip():
                    continue
                try:
                    raw = json.loads(content)
                except json.JSONDecodeError as exc:
                    where = f"{path}:{line}: not valid JSON ({exc.msg})"
                    if not options.skip_bad:
                        raise DataError(where + " (pass --skip-bad to skip such rows)") from None
                    options.skipped.append(where)
                    continue
                if not isinstance(raw, dict):
                    raw = {}
                text_col = options.text_column or next((c for c in TEXT_COLUMNS if c in raw), "text")
                label_col, graded, domain_col = _jsonl_columns(raw, options)
                example = _row(path, line, raw, text_col, label_col, options, graded=graded, domain_col=domain_col)
                if example is not None:
                    yield example
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def fingerprint(path: str | Path) -> dict[str, object]:
    """Name a dataset by file name, size and SHA-256, never by where it lay on the training machine.

    A directory (an aclImdb folder, pre-trained vectors) is hashed over its files' relative paths
    and contents, in sorted order.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(file_sha256(file).encode() + b"\n")
        return {"file": path.name + "/", "sha256": digest.hexdigest(), "bytes": sum(f.stat().st_size for f in files)}
    return {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}


def describe_source(path: str | Path, read: Mapping[str, object] | None = None) -> dict[str, object]:
    """A training source as metrics.json names it: its fingerprint, or the kind of database for a log URL.

    `read` (label map, columns) is recorded beside a file, so a later run can read it the same way
    (fine-tuning's replay does).
    """
    if isinstance(path, str) and is_database_url(path):
        return {"file": None, "database": path.split(":", 1)[0], "what": "feedback of the service's log"}
    described = fingerprint(path)
    kept = {k: v for k, v in (read or {}).items() if v is not None and v != {} and v != ""}
    if kept:
        described["read"] = kept
    return described


def rows_sha256(examples: Sequence[Example]) -> dict[str, str]:
    """Per source, SHA-256 over its sorted "label TAB text" rows: the same data in another archive matches.

    (The IMDB archive a mirror serves may differ byte for byte from the publisher's and hold the
    very same reviews; fine-tuning's replay finds its data by these when the file hashes differ.)
    """
    by_source: dict[str, list[str]] = {}
    for example in examples:
        row = f"{example.label}\t{example.text}" if example.target is None else f"{example.target!r}\t{example.text}"
        by_source.setdefault(file_source(example.source), []).append(row)
    digests = {}
    for source, rows in sorted(by_source.items()):
        digest = hashlib.sha256()
        for row in sorted(rows):
            digest.update(row.encode() + b"\0")
        digests[source] = digest.hexdigest()
    return digests


def source_of(path: str | Path) -> str:
    """The source name that the rows read from `path` carry ("imdb" for the aclImdb layout)."""
    path = Path(path)
    return "imdb" if path.exists() and detect_format(path) == "imdb" else _source(path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
