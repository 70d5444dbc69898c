"""Write scored chunks as part files, then join the parts into the output in one pass.

Each part is written to a temporary name and renamed when complete, so a crash leaves only whole
parts behind; `--resume` counts them and carries on. The output file itself appears (by rename)
only when every part is joined: a pipeline never sees a half-written output under its name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

EXTENSIONS = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet"}


def _cell(value: Any) -> str:
    """A value as CSV text: null empty, floats in full precision, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _csv_writer(handle: Any, fmt: str) -> Any:
    # Quoted where needed, as pandas and pyarrow write and read it, also for TSV.
    return csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")


def write_part(table: pa.Table, path: Path, fmt: str) -> None:
    """Write `table` to `path` (through a temporary name, so a part is whole or absent)."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        pq.write_table(table, tmp)
    elif fmt == "jsonl":
        with tmp.open("w", encoding="utf-8") as handle:
            for row in table.to_pylist():
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = _csv_writer(handle, fmt)
            names = table.schema.names
            for row in table.to_pylist():
                writer.writerow([_cell(row[n]) for n in names])
    os.replace(tmp, path)


def join_parts(parts: Sequence[Path], out: Path, fmt: str, schema: pa.Schema) -> None:
    """Join the parts, in order, into `out` (written beside it, then renamed into place)."""
    tmp = out.with_name(f".{out.name}.joining")
    if fmt == "parquet":
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part, schema=schema))
    else:
        with tmp.open("wb") as handle:
            if fmt != "jsonl":
                header = _header_line(schema.names, fmt)
                handle.write(header.encode("utf-8"))
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, handle, 1 << 20)
    os.replace(tmp, out)


def _header_line(names: Sequence[str], fmt: str) -> str:
    buffer = io.StringIO()
    _csv_writer(buffer, fmt).writerow(names)
    return buffer.getvalue()
