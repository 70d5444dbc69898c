"""Reading a window through the stats rollup: whole minutes, hours and days from `stats_rollup`, the rest from the log.

`sources` plans a window: the partial minutes at its edges and everything after the watermark
are read from the log, the whole minutes, hours and days between from the rollup (summed per figure,
category and bin), plus, from the log, any row newer than the rollup's `seen_id` that falls in
those minutes (a row that came late). The parts never overlap, so every row counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, select, union_all

from service.log.figures import LOG, MINUTE, SPANS, Window, as_seconds, ceil_to, floor_to, moment
from service.log.rollup import ROLLUP, STATE

Cell = tuple[int, Any, Any, Any]  # count, total, low, high


@dataclass(frozen=True)
class Sources:
    """Where a window's figures come from: the log for `raw`, the rollup for the whole minutes [a, b)."""

    window: Window
    raw: list[tuple[Window, int | None]]  # a part of the window, and None or the id above which its rows count
    a: int = 0
    b: int = 0
    cells: dict[tuple[str, str, int], Cell] = field(default_factory=dict)
    watermark_s: int | None = None


def sources(connection: Connection, window: Window, *, rollup: bool) -> Sources:
    """Plan a window: whole minutes below the rollup's watermark from `stats_rollup`, the rest from the log."""
    if not rollup or window.model is not None:  # the rollup is per version, not per model name
        return Sources(window, [(window, None)])
    mark, seen_id = state(connection)
    raw, a, b = plan(window, mark)
    # The edges, one query each: an OR of both ranges made SQLite scan a whole index for some figures.
    parts: list[tuple[Window, int | None]] = [(w, None) for w in raw]
    found: dict[tuple[str, str, int], Cell] = {}
    if a < b:
        found = cells(connection, a, b, window.model_version)
        # Rows committed since the last pass that belong to minutes it had already rolled up (a
        # writer that held them longer than the lag): the log gives them until the next pass does.
        if rows_after(connection, seen_id, b):
            parts.append((Window(moment(a), moment(b), window.model_version), seen_id))
    return Sources(window, parts, a, b, found, mark)


def state(connection: Connection) -> tuple[int | None, int | None]:
    """(watermark, seen id): every minute before the watermark is rolled up from the log rows up to the id."""
    found = connection.execute(select(STATE.watermark_s, STATE.seen_id).where(STATE.id == 1)).first()
    if found is None or found[0] is None:
        return None, None
    return int(found[0]), None if found[1] is None else int(found[1])


def rows_after(connection: Connection, seen_id: int | None, before_s: int) -> bool:
    """Whether a log row newer than `seen_id` has a time before `before_s` (a late row the rollup lacks)."""
    if seen_id is None:
        return False
    # min() of an expression, not of the column: SQLite would otherwise walk the created_at index
    # from the oldest row looking for a new id (the whole log); this reads only the ids since the pass.
    newest_rows = func.coalesce(LOG.created_at, LOG.created_at, type_=LOG.created_at.type)
    oldest = connection.scalar(select(func.min(newest_rows)).where(LOG.id > seen_id))
    return oldest is not None and as_seconds(oldest) < before_s


def plan(window: Window, watermark_s: int | None) -> tuple[list[Window], int, int]:
    """Split a window into the raw parts read from the log and the whole minutes [a, b) read from the rollup."""
    if watermark_s is None or window.model_version == "":
        return [window], 0, 0
    a = ceil_to(window.start.timestamp(), MINUTE)
    b = min(floor_to(window.end.timestamp(), MINUTE), watermark_s)
    if a >= b:
        return [window], 0, 0
    raw = [Window(window.start, moment(a), window.model_version), Window(moment(b), window.end, window.model_version)]
    return [w for w in raw if w.start < w.end], a, b


def pieces(a: int, b: int, spans: Sequence[int] = SPANS) -> list[tuple[int, int, int]]:
    """(span, start, end) of the rollup rows that cover the whole minutes [a, b): the longest spans inside it."""
    if a >= b:
        return []
    *shorter, span = spans
    if not shorter:
        return [(span, a, b)]
    s0, s1 = ceil_to(a, span), floor_to(b, span)
    if s0 >= s1:
        return pieces(a, b, shorter)
    return [*pieces(a, s0, shorter), (span, s0, s1), *pieces(s1, b, shorter)]


def _pieces_of(found: list[tuple[int, int, int]], version: str | None, *columns: Any, figure: str | None = None) -> Any:
    """The rollup rows of these (span, start, end) pieces, one range read each (UNION ALL), of one version.

    A UNION of simple ranges, not an OR: each branch is a primary-key range whatever the planner's
    statistics say (an OR was planned as a full scan once the table's statistics were stale).
    """
    branches = []
    for span, a, b in found:
        condition = and_(ROLLUP.span_s == span, ROLLUP.start_s >= a, ROLLUP.start_s < b)
        if version is not None:
            condition = and_(condition, ROLLUP.model_version == version)
        if figure is not None:
            condition = and_(condition, ROLLUP.figure == figure)
        branches.append(select(*columns).where(condition))
    return (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("pieces")


CELL_COLUMNS = (ROLLUP.figure, ROLLUP.category, ROLLUP.bin, ROLLUP.count, ROLLUP.total, ROLLUP.low, ROLLUP.high)


def cells(connection: Connection, a: int, b: int, version: str | None) -> dict[tuple[str, str, int], Cell]:
    """Every figure's (figure, category, bin) → (count, total, low, high) over the whole minutes [a, b)."""
    rows = _pieces_of(pieces(a, b), version, *CELL_COLUMNS)
    query = select(
        rows.c.figure,
        rows.c.category,
        rows.c.bin,
        func.sum(rows.c.count),
        func.sum(rows.c.total),
        func.min(rows.c.low),
        func.max(rows.c.high),
    ).group_by(rows.c.figure, rows.c.category, rows.c.bin)
    return {
        (str(figure), str(category), int(b_)): (int(count), total, low, high)
        for figure, category, b_, count, total, low, high in connection.execute(query)
    }


def series_counts(connection: Connection, a: int, b: int, version: str | None, interval_s: int) -> dict[int, list[int]]:
    """Interval number → [rows, error rows] over the whole minutes [a, b) (hours, days where they fit the interval)."""
    spans = [span for span in SPANS if interval_s % span == 0]
    rows = _pieces_of(pieces(a, b, spans), version, ROLLUP.start_s, ROLLUP.bin, ROLLUP.count, figure="rows")
    bucket = (rows.c.start_s // interval_s).label("bucket")
    query = select(bucket, rows.c.bin, func.sum(rows.c.count)).group_by(bucket, rows.c.bin)
    found: dict[int, list[int]] = {}
    for number, b_, count in connection.execute(query):
        point = found.setdefault(int(number), [0, 0])
        point[0] += int(count)
        if int(b_):
            point[1] += int(count)
    return found
