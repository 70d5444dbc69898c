"""Run log retention in the background (`SENTIMENT_LOG_RETENTION_DAYS`), and count what it deleted.

A pass every `SENTIMENT_LOG_RETENTION_EVERY_S`; a pass that has much to delete (the first one on
an old log) runs in calls of `CALL_BATCHES` batches, back to back, so a stop never waits for more
than one call. The rules of what may be deleted are `service.log.retention`'s.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.log import query_in_thread
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
