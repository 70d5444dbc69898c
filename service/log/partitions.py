"""PostgreSQL: the request log partitioned by UTC day (`PARTITION BY RANGE (created_at)`).

Layout. `request_log` is a partitioned table with primary key `(id, created_at)` (a partitioned
table's unique keys must hold the partition key; ids stay unique because one sequence,
`request_log_id_seq`, assigns them all). Its partitions:

- `request_log_pYYYYMMDD`: the rows of one UTC day, created `AHEAD_DAYS` ahead by `maintain`
  (the service's background task, every `MAINTAIN_EVERY_S`);
- `request_log_default`: the DEFAULT partition, a safety net for rows of a day without a partition
  (a back-dated row, a clock far ahead, a week without maintenance). `maintain` moves such rows
  into their day's partition when it creates it;
- `request_log_before_YYYYMMDD`: an unpartitioned log converted by `convert` (`python -m service
  partition-log`), attached whole as the partition of every row before that day.

A retention pass (`service.log.retention`) drops a partition once its whole range is past the cutoff
(`drop_old`): under an ACCESS EXCLUSIVE lock on `request_log`, taken with a short `lock_timeout`
so the log writer waits for it at most that long. A DEFAULT partition rules out `DETACH PARTITION
... CONCURRENTLY`, hence the short lock. New partitions are created apart and then attached (`ATTACH
PARTITION` takes only SHARE UPDATE EXCLUSIVE on `request_log`: writers and readers go on).

SQLite has no partitions: none of this runs there.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

DAY = timedelta(days=1)
AHEAD_DAYS = 7  # partitions exist this many days ahead: a week without maintenance loses nothing
MAINTAIN_EVERY_S = 3600.0
LOCK_TIMEOUT_MS = 200  # longest a DDL statement waits for its lock (writers queue behind a waiting one)
LOCK_TRIES = 5
DEFAULT = "request_log_default"
PARTITION_LOCK_KEY = 0x50415254  # pg_try_advisory_xact_lock key ("PART"): one replica creates partitions
CONVERT_BOUND = "request_log_before_partitions"  # the CHECK that lets the old log attach without a scan
_NAME = re.compile(r"^request_log_[a-z0-9_]+$")
_PARTITION = re.compile(r"^request_log_(p\d{8}|default|before_\d{8})$")
T = TypeVar("T")
_BOUND = re.compile(r"FROM \((MINVALUE|'[^']+')\) TO \((MAXVALUE|'[^']+')\)")


class NotPartitionable(Exception):
    """The log cannot be partitioned here (SQLite, or no request_log yet)."""


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: MINVALUE (the converted log)
    end: datetime | None  # None: the DEFAULT partition


def day_floor(moment: datetime) -> datetime:
    """The UTC midnight at or before `moment`."""
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _literal(moment: datetime) -> str:
    return f"'{moment.astimezone(UTC).isoformat(' ')}'"


def _checked(name: str) -> str:
    if not _NAME.match(name):  # our own names; anything else is not written into SQL
        raise ValueError(f"unexpected partition name {name!r}")
    return name


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name`: autogenerate leaves request_log's partitions alone (they are not declared tables)."""
    return not (type_ == "table" and name is not None and _PARTITION.match(name))


def is_partitioned(connection: Connection) -> bool:
    """True where request_log is a partitioned table (PostgreSQL after `convert`)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.exec_driver_sql("SELECT relkind FROM pg_class WHERE oid = to_regclass('request_log')").scalar()
    return bool(kind == "p")


def partitions(connection: Connection) -> list[Partition]:
    """request_log's partitions, oldest first, the DEFAULT one last."""
    found = []
    for name, bound in connection.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'request_log'::regclass"
    ):
        match = _BOUND.search(bound)
        if match is None:  # DEFAULT
            found.append(Partition(name, None, None))
            continue
        low, high = (
            None if v in ("MINVALUE", "MAXVALUE") else datetime.fromisoformat(v.strip("'")) for v in match.groups()
        )
        found.append(Partition(name, low, high))
    return sorted(found, key=lambda p: (p.end is None, p.start or datetime.min.replace(tzinfo=UTC)))


def day_name(day: datetime) -> str:
    return f"request_log_p{day:%Y%m%d}"


def _covered(existing: list[Partition], start: datetime, end: datetime) -> bool:
    """True when a partition other than the DEFAULT overlaps [start, end)."""
    return any(p.end is not None and (p.start is None or p.start < end) and start < p.end for p in existing)


def _columns(connection: Connection) -> str:
    names = connection.exec_driver_sql(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'request_log'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"
    ).scalars()
    return ", ".join(f'"{n}"' for n in names)


def _lock_timeout(connection: Connection, ms: int = LOCK_TIMEOUT_MS) -> None:
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(ms)}ms'")


def create_day(connection: Connection, day: datetime) -> int:
    """Create and attach the partition of UTC `day` (in the caller's transaction); return rows moved into it.

    Rows of that day already in the DEFAULT partition are moved into the new one first (the
    DEFAULT is locked against writes meanwhile), else the attach would refuse.
    """
    start = day_floor(day)
    end = start + DAY
    name = _checked(day_name(start))
    low, high = _literal(start), _literal(end)
    _lock_timeout(connection)
    connection.exec_driver_sql(f"CREATE TABLE {name} (LIKE request_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    moved = 0
    has_default = connection.exec_driver_sql(f"SELECT to_regclass('{DEFAULT}') IS NOT NULL").scalar()
    if (
        has_default
        and connection.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE created_at >= {low} AND created_at < {high})"
        ).scalar()
    ):
        columns = _columns(connection)
        connection.exec_driver_sql(f"LOCK TABLE {DEFAULT} IN EXCLUSIVE MODE")
        moved = connection.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= {low} AND created_at < {high} "
            f"RETURNING {columns}) INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
        ).rowcount
    # The constraint spares the attach a scan of the new table (it stays: dropping it would lock the table).
    connection.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (created_at >= {low} AND created_at < {high})"
    )
    connection.exec_driver_sql(f"ALTER TABLE request_log ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})")
    return max(moved, 0)


def _retry(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in a transaction; on a lock timeout try again (after a pause), at most LOCK_TRIES times."""
    tries = LOCK_TRIES
    for attempt in range(tries):
        try:
            with engine.begin() as connection:
                return work(connection)
        except OperationalError as exc:
            if "lock timeout" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Maintained:
    created: list[str]
    moved: int = 0  # rows moved out of the DEFAULT partition
    skipped: str | None = None


def maintain(
    engine: Engine, *, now: datetime, ahead_days: int = AHEAD_DAYS, first_day: datetime | None = None
) -> Maintained:
    """Create the missing day partitions from `first_day` (default: today) to `ahead_days` after today.

    A no-op on an unpartitioned log or on SQLite. One replica at a time (an advisory lock; the
    others skip). Each partition is its own short transaction.
    """
    result = Maintained([])
    if engine.dialect.name != "postgresql":
        return result
    today = day_floor(now)
    first = day_floor(first_day) if first_day is not None else today
    with engine.begin() as connection:
        if not is_partitioned(connection):
            result.skipped = "the log is not partitioned"
            return result
        existing = partitions(connection)
    day = first
    while day <= today + ahead_days * DAY:
        if not _covered(existing, day, day + DAY):

            def one(connection: Connection, day: datetime = day) -> int | None:
                if not connection.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({PARTITION_LOCK_KEY})").scalar():
                    return None
                if _covered(partitions(connection), day, day + DAY):  # another replica made it
                    return -1
                return create_day(connection, day)

            moved = _retry(engine, one)
            if moved is None:
                result.skipped = "another replica is creating partitions"
                return result
            if moved >= 0:
                result.created.append(day_name(day))
                result.moved += moved
        day += DAY
    return result


# --- converting an unpartitioned log -----------------------------------------------------------------


@dataclass
class Converted:
    already: bool = False  # it was partitioned: nothing done
    rows: int = 0  # rows of the old table (counted before), now its partition
    legacy: str | None = None  # that partition's name
    bound: datetime | None = None  # it holds the rows before this
    seconds: dict[str, float] | None = None  # time per step


def _indexes(connection: Connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, CREATE INDEX statement, is the primary key) of each index on `table`."""
    return [
        (name, definition, bool(primary))
        for name, definition, primary in connection.exec_driver_sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary FROM pg_index i "
            f"JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '{table}'::regclass ORDER BY c.relname"
        )
    ]


def _swap(connection: Connection, *, now: datetime, bound: datetime | None, key_index: str | None) -> Converted:
    """In the caller's transaction: request_log becomes a partitioned table, the old one its first partition.

    `bound` None: the old table must be empty and is dropped (a new log). Otherwise it is attached as
    the partition of every row before `bound`, its primary key moved to `key_index` (a unique
    index on (id, created_at) built beforehand) and its CHECK making the attach a catalog change.
    """
    _lock_timeout(connection, 2000)
    connection.exec_driver_sql("LOCK TABLE request_log IN ACCESS EXCLUSIVE MODE")
    if is_partitioned(connection):
        return Converted(already=True)
    empty = not connection.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM request_log)").scalar()
    if bound is None and not empty:
        raise NotPartitionable("request_log has rows: use `python -m service partition-log`")
    legacy = f"request_log_before_{bound:%Y%m%d}" if bound is not None else "request_log_unpartitioned"
    indexes = _indexes(connection, "request_log")
    sequence = connection.exec_driver_sql("SELECT pg_get_serial_sequence('request_log', 'id')").scalar()
    connection.exec_driver_sql(f"ALTER TABLE request_log RENAME TO {legacy}")
    for name, _, primary in indexes:  # the parent's indexes take the names (later migrations use them)
        if primary:
            connection.exec_driver_sql(f'ALTER TABLE {legacy} RENAME CONSTRAINT "{name}" TO {legacy}_pkey')
        elif name != key_index:
            connection.exec_driver_sql(f'ALTER INDEX "{name}" RENAME TO "{(legacy + "_" + name)[:63]}"')
    connection.exec_driver_sql(
        f"CREATE TABLE request_log (LIKE {legacy} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (created_at)"
    )
    connection.exec_driver_sql(f"ALTER TABLE request_log DROP CONSTRAINT IF EXISTS {CONVERT_BOUND}")
    connection.exec_driver_sql("ALTER TABLE request_log ADD CONSTRAINT request_log_pkey PRIMARY KEY (id, created_at)")
    if sequence:  # the ids go on from where they were; the sequence now belongs to the new table
        connection.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY request_log.id")
    for name, definition, primary in indexes:
        if not primary and name != key_index:
            connection.exec_driver_sql(definition)  # "CREATE INDEX name ON public.request_log ...": the parent now
    if bound is None:
        connection.exec_driver_sql(f"DROP TABLE {legacy}")
        first = day_floor(now)
    else:
        if key_index is not None:
            connection.exec_driver_sql(
                f"ALTER TABLE {legacy} DROP CONSTRAINT {legacy}_pkey, "
                f'ADD CONSTRAINT {legacy}_pkey PRIMARY KEY USING INDEX "{key_index}"'
            )
        connection.exec_driver_sql(
            f"ALTER TABLE request_log ATTACH PARTITION {legacy} FOR VALUES FROM (MINVALUE) TO ({_literal(bound)})"
        )
        connection.exec_driver_sql(f"ALTER TABLE {legacy} DROP CONSTRAINT IF EXISTS {CONVERT_BOUND}")
        first = bound
    connection.exec_driver_sql(f"CREATE TABLE {DEFAULT} PARTITION OF request_log DEFAULT")
    day = first
    while day <= day_floor(now) + AHEAD_DAYS * DAY:
        name = _checked(day_name(day))
        connection.exec_driver_sql(
            f"CREATE TABLE {name} PARTITION OF request_log FOR VALUES FROM ({_literal(day)}) TO ({_literal(day + DAY)})"
        )
        day += DAY
    return Converted(legacy=legacy if bound is not None else None, bound=bound)


def partition_new_log(connection: Connection, *, now: datetime) -> bool:
    """At start, in the migration's transaction: an empty unpartitioned log becomes partitioned; True if it did.

    A log with rows is left as it is (`python -m service partition-log` converts it).
    """
    if connection.dialect.name != "postgresql" or is_partitioned(connection):
        return False
    if connection.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM request_log)").scalar():
        return False
    return not _swap(connection, now=now, bound=None, key_index=None).already


def convert(engine: Engine, *, now: datetime, on_step: Callable[[str], None] = lambda s: None) -> Converted:
    """Convert an unpartitioned request_log to the partitioned layout, the old table kept as one partition.

    Steps, each safe to repeat (re-running after a failure, or after success, is fine):
    1. a unique index on (id, created_at), built CONCURRENTLY (writers go on);
    2. a CHECK (created_at < bound) added NOT VALID, then validated (a scan; writers go on), where
       bound is the UTC midnight two days ahead, so no row written meanwhile falls outside it;
    3. one short transaction under an ACCESS EXCLUSIVE lock: rename the table, create the
       partitioned one with the same columns, defaults and indexes, attach the old table as the
       partition of every row before the bound (no scan: the CHECK proves it), add the DEFAULT
       partition and the day partitions from the bound to `AHEAD_DAYS` ahead.
    Nothing is copied: the old rows stay where they are, and retention drops that partition once
    all of it is past the limit (until then it deletes its old rows in batches, as before).
    """
    if engine.dialect.name != "postgresql":
        raise NotPartitionable(
            f"partitioning needs PostgreSQL; this log is {engine.dialect.name} (SQLite keeps one table, "
            "and retention deletes its old rows in batches)"
        )
    seconds: dict[str, float] = {}
    with engine.begin() as connection:
        if connection.exec_driver_sql("SELECT to_regclass('request_log')").scalar() is None:
            raise NotPartitionable("there is no request_log yet: run `python -m service migrate` first")
        if is_partitioned(connection):
            return Converted(already=True)
        empty = not connection.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM request_log)").scalar()
    if empty:
        began = time.perf_counter()
        result = _retry(engine, lambda c: _swap(c, now=now, bound=None, key_index=None))
        assert isinstance(result, Converted)
        result.seconds = {"swap": time.perf_counter() - began}
        return result
    with engine.connect() as connection:
        rows = int(connection.exec_driver_sql("SELECT count(*) FROM request_log").scalar() or 0)
    bound = day_floor(now) + 2 * DAY
    key_index = "request_log_id_created_at"
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    began = time.perf_counter()
    on_step(f"building a unique index on (id, created_at) concurrently ({key_index})")
    with autocommit.connect() as connection:
        valid = connection.exec_driver_sql(
            f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{key_index}')"
        ).scalar()
        if valid is False:  # left by a build that was interrupted
            connection.exec_driver_sql(f"DROP INDEX CONCURRENTLY {key_index}")
        connection.exec_driver_sql(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {key_index} ON request_log (id, created_at)"
        )
    seconds["unique index"] = time.perf_counter() - began
    began = time.perf_counter()
    on_step(f"checking that every row is before {bound:%Y-%m-%d} (a scan; writers go on)")

    def add_check(connection: Connection) -> None:
        _lock_timeout(connection)
        connection.exec_driver_sql(f"ALTER TABLE request_log DROP CONSTRAINT IF EXISTS {CONVERT_BOUND}")
        connection.exec_driver_sql(
            f"ALTER TABLE request_log ADD CONSTRAINT {CONVERT_BOUND} CHECK (created_at < {_literal(bound)}) NOT VALID"
        )

    _retry(engine, add_check)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE request_log VALIDATE CONSTRAINT {CONVERT_BOUND}")
    seconds["check"] = time.perf_counter() - began
    began = time.perf_counter()
    on_step("swapping the tables (one short transaction)")
    result = _retry(engine, lambda c: _swap(c, now=now, bound=bound, key_index=key_index))
    assert isinstance(result, Converted)
    seconds["swap"] = time.perf_counter() - began
    result.seconds, result.rows = seconds, rows
    return result


# --- retention ------------------------------------------------------------------------------------


@dataclass
class Dropped:
    partitions: list[str] = field(default_factory=list)
    rows: int = 0
    kept: list[str] = field(
        default_factory=list
    )  # past the cutoff but holding rows retention must keep: pruned by rows
    busy: int = 0  # could not get the lock in time: this one and the rest are left for the next pass


def _must_keep(connection: Connection, name: str, *, seen_id: int | None, feedback_cutoff: datetime | None) -> bool:
    """True when partition `name` holds a row the rollup has not read or unexported feedback points at."""
    if seen_id is not None:
        newest = connection.exec_driver_sql(f"SELECT max(id) FROM {name}").scalar()
        if newest is not None and newest > seen_id:
            return True
    live = "f.exported_at IS NULL"
    if feedback_cutoff is not None:
        live += f" AND f.updated_at >= {_literal(feedback_cutoff)}"
    return bool(
        connection.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM feedback f JOIN {name} r ON r.id = f.log_id WHERE {live})"
        ).scalar()
    )


def drop_old(
    engine: Engine,
    *,
    before: datetime,
    seen_id: int | None,
    feedback_cutoff: datetime | None,
    locked: Callable[[Connection], bool],
) -> Dropped | None:
    """Drop each partition whose whole range is before `before` and that holds no row retention keeps.

    Returns None when `locked` (the retention lock) says another replica is pruning. Partitions that
    must stay are listed in `kept` (the caller deletes their other rows in batches). Each drop is its
    own transaction: `LOCK TABLE request_log IN ACCESS EXCLUSIVE MODE` with a `lock_timeout` of
    LOCK_TIMEOUT_MS (a few tries), the checks again under the lock (no feedback can be added to a
    row meanwhile: adding it reads request_log), then DETACH and DROP.
    """
    result = Dropped()
    with engine.connect() as connection:
        old = [p for p in partitions(connection) if p.end is not None and p.end <= before]
    for partition in old:
        name = _checked(partition.name)
        with engine.connect() as connection:
            if _must_keep(connection, name, seen_id=seen_id, feedback_cutoff=feedback_cutoff):
                result.kept.append(name)
                continue
            rows = int(connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() or 0)

        def drop(connection: Connection, name: str = name) -> bool | None:
            if not locked(connection):
                return None
            _lock_timeout(connection)
            connection.exec_driver_sql("LOCK TABLE request_log IN ACCESS EXCLUSIVE MODE")
            if _must_keep(connection, name, seen_id=seen_id, feedback_cutoff=feedback_cutoff):
                return False
            connection.exec_driver_sql(f"ALTER TABLE request_log DETACH PARTITION {name}")
            connection.exec_driver_sql(f"DROP TABLE {name}")
            return True

        try:
            done = _retry(engine, drop)
        except OperationalError as exc:
            if "lock timeout" not in str(exc):
                raise
            result.busy += 1  # the others wait too: each try makes the writers queue behind it
            break
        if done is None:
            return None
        if done:
            result.partitions.append(name)
            result.rows += rows
        else:
            result.kept.append(name)
    return result
