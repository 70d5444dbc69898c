"""Run log retention in the background (`SENTIMENT_LOG_RETENTION_DAYS`), and count what it deleted.

A pass every `SENTIMENT_LOG_RETENTION_EVERY_S`; a pass that has much to delete (the first one on
an old log) runs in calls of `CALL_BATCHES` batches, back to back, so a stop never waits for more
than one call. The rules of what may be deleted are `service.log.retention`'s.

On PostgreSQL, a second task keeps a partitioned log's day partitions created ahead
(`service.log.partitions.maintain`, at start and every hour; a no-op on an unpartitioned log).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.log import query_in_thread
from service.log.partitions import AHEAD_DAYS, MAINTAIN_EVERY_S, maintain
from service.log.retention import prune
from service.state import ServiceState

log = logging.getLogger("service.retention")
CALL_BATCHES = 20


class RetentionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deleted = Counter(
            "sentiment_log_retention_deleted_rows",
            "rows deleted by log retention, by table",
            ["table"],
            registry=registry,
        )
        self.cutoff = Gauge(
            "sentiment_log_retention_cutoff_timestamp_seconds",
            "the last retention pass deleted raw log rows before this time (0: none yet)",
            registry=registry,
        )
        self.dropped = Counter(
            "sentiment_log_retention_dropped_partitions",
            "day partitions of the request log dropped by log retention (PostgreSQL, partitioned log)",
            registry=registry,
        )
        self.ahead = Gauge(
            "sentiment_log_partitions_ahead_days",
            "whole days ahead that have a request log partition (PostgreSQL, partitioned log; -1: not partitioned)",
            registry=registry,
        )


def enabled(service: ServiceState) -> bool:
    s = service.settings
    return s.log_retention_days > 0 or s.stats_rollup_retention_days > 0


async def retain_forever(service: ServiceState, metrics: RetentionMetrics) -> None:
    s = service.settings
    while True:
        total = 0
        while service.engine is not None:
            try:
                result = await query_in_thread(
                    prune,
                    service.engine,
                    now=datetime.now(UTC),
                    retention_days=s.log_retention_days,
                    feedback_retention_days=s.feedback_retention_days,
                    rollup_retention_days=s.stats_rollup_retention_days,
                    rollup_on=s.stats_rollup_s > 0,
                    max_batches=CALL_BATCHES,
                )
            except Exception as exc:  # noqa: BLE001 - the next pass tries again; nothing is lost by waiting
                log.warning("log retention pass failed: %s: %s", type(exc).__name__, exc)
                break
            metrics.deleted.labels("request_log").inc(result.rows)
            metrics.deleted.labels("stats_rollup").inc(result.rollup_rows)
            metrics.dropped.inc(len(result.partitions))
            if result.partitions:
                log.info("log retention: dropped partitions %s", ", ".join(result.partitions))
            if result.cutoff is not None:
                metrics.cutoff.set(result.cutoff.timestamp())
            total += result.rows
            if result.skipped:
                log.info("log retention: %s; trying again later", result.skipped)
            if not result.more:
                break
            await asyncio.sleep(0)
        if total:
            log.info("log retention: deleted %d log rows", total)
        await asyncio.sleep(s.log_retention_every_s)


async def partition_forever(
    service: ServiceState, metrics: RetentionMetrics, every_s: float = MAINTAIN_EVERY_S
) -> None:
    """Create the partitions of the next `AHEAD_DAYS` days of a partitioned log, now and every `every_s`."""
    while True:
        engine = service.engine
        if engine is not None:
            try:
                done = await query_in_thread(maintain, engine, now=datetime.now(UTC))
                if done.created:
                    log.info(
                        "log partitions: created %s (rows moved from the default: %d)",
                        ", ".join(done.created),
                        done.moved,
                    )
                metrics.ahead.set(-1 if done.skipped == "the log is not partitioned" else AHEAD_DAYS)
            except Exception as exc:  # noqa: BLE001 - partitions exist days ahead; the next pass tries again
                log.warning("log partitions: creating the next days' failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(every_s)
