"""Watching the service through its log: feedback, stats with drift, the review queue, drift gauges."""

from service.monitoring.routes import router

__all__ = ["router"]
