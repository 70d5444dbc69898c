"""Keep the stats rollup current in the background, and show how far it reaches on /metrics.

Each replica runs the loop; the passes themselves make that safe (see `service.log.rollup`). While
the rollup is behind (the backfill after the upgrade, or a long stop), passes run back to back,
one hour of log time each, with a progress line every `PROGRESS_EVERY_S`; once caught up, one
pass every `SENTIMENT_STATS_ROLLUP_S`. Nothing here runs on a request's path, and `/v1/stats`
stays exact meanwhile: it reads the log wherever the rollup has not reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge

from service.log import query_in_thread
from service.log.rollup import Progress, roll_up
from service.state import ServiceState

log = logging.getLogger("service.rollup")
PROGRESS_EVERY_S = 10.0


class RollupGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.watermark = Gauge(
            "sentiment_stats_rollup_watermark_timestamp_seconds",
            "every minute of the request log before this time is in the stats rollup (0: none yet)",
            registry=registry,
        )
        self.behind = Gauge(
            "sentiment_stats_rollup_behind_seconds",
            "how far the rollup's watermark trails the minutes it should have reached (lag excluded); "
            "large while a backfill runs",
            registry=registry,
        )
        self.late_minutes = Gauge(
            "sentiment_stats_rollup_late_minutes",
            "minutes recomputed by the last pass because rows arrived after they were rolled up",
            registry=registry,
        )

    def set(self, progress: Progress) -> None:
        if progress.watermark_s is None:
            return
        self.watermark.set(progress.watermark_s)
        self.behind.set(max(0, progress.target_s - progress.watermark_s))
        self.late_minutes.set(progress.late_minutes)


def _when(seconds: int | None) -> str:
    return "nothing" if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def maintain_forever(service: ServiceState, gauges: RollupGauges) -> None:
    """Roll up closed minutes: back to back while behind, then every `stats_rollup_s`; failures are retried."""
    s = service.settings
    started: tuple[float, int | None] | None = None  # (monotonic time, watermark) when a catch-up began
    last_line = 0.0
    while True:
        progress = None
        if service.engine is not None:
            try:
                progress = await query_in_thread(roll_up, service.engine, now=time.time(), lag_s=s.stats_rollup_lag_s)
                gauges.set(progress)
            except Exception as exc:  # noqa: BLE001 - keep trying; /v1/stats reads the log meanwhile
                log.warning("stats rollup pass failed: %s: %s", type(exc).__name__, exc)
        if progress is not None and progress.behind:
            if started is None:
                started = (time.monotonic(), progress.previous_s)
                log.info(
                    "stats rollup: catching up from %s to %s", _when(progress.previous_s), _when(progress.target_s)
                )
            if time.monotonic() - last_line >= PROGRESS_EVERY_S:
                last_line = time.monotonic()
                log.info("stats rollup: %s done, %s to go", _when(progress.watermark_s), _when(progress.target_s))
            await asyncio.sleep(0)  # the next hour at once
            continue
        if started is not None and progress is not None and not progress.skipped:
            log.info(
                "stats rollup: caught up to %s in %.0f s", _when(progress.watermark_s), time.monotonic() - started[0]
            )
            started = None
        await asyncio.sleep(s.stats_rollup_s)
