"""Drift as Prometheus gauges, refreshed by a background task (never on a request's path)."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import Engine

from service.log import query_in_thread
from service.log.drift import FEATURES, compare
from service.log.stats import Window, drift_histograms
from service.state import ServiceState

log = logging.getLogger("service.drift")


class DriftGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.distance = Gauge(
            "sentiment_drift_distance",
            "Jensen-Shannon distance of the last window from the one before (NaN: too few rows)",
            ["feature"],
            registry=registry,
        )
        self.detected = Gauge(
            "sentiment_drift_detected",
            "1 while the feature's distance is at or above the threshold",
            ["feature"],
            registry=registry,
        )
        self.refreshed = Gauge(
            "sentiment_drift_refreshed_timestamp_seconds", "when the drift gauges were last computed", registry=registry
        )

    def set(self, drift: dict[str, Any]) -> None:
        for name in FEATURES:
            feature = drift["features"][name]
            self.distance.labels(name).set(math.nan if feature["distance"] is None else feature["distance"])
            self.detected.labels(name).set(1 if feature["drift"] else 0)
        self.refreshed.set_to_current_time()


def current_drift(
    engine: Engine, *, window_s: float, threshold: float, min_rows: int, rollup: bool = False
) -> dict[str, Any]:
    """Drift of the last `window_s` seconds against the `window_s` before them (every model version)."""
    end = datetime.now(UTC)
    current = Window(end - timedelta(seconds=window_s), end)
    reference = current.previous()
    with engine.connect() as connection:
        now = drift_histograms(connection, current, rollup=rollup)
        before = drift_histograms(connection, reference, rollup=rollup)
    return compare(
        before, now, threshold=threshold, min_rows=min_rows, reference_window=(reference.start, reference.end)
    )


async def refresh_forever(service: ServiceState, gauges: DriftGauges) -> None:
    """Compute drift now and then every `drift_refresh_s` seconds; a failing database is logged and retried."""
    s = service.settings
    while True:
        if service.engine is not None:
            try:
                drift = await query_in_thread(
                    current_drift,
                    service.engine,
                    window_s=s.drift_window_s,
                    threshold=s.drift_threshold,
                    min_rows=s.drift_min_rows,
                    rollup=s.stats_rollup_s > 0,
                )
                gauges.set(drift)
            except Exception as exc:  # noqa: BLE001 - keep refreshing; the gauges keep their last values
                log.warning("drift refresh failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(s.drift_refresh_s)
