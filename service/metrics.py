"""Prometheus metrics, one registry per app (so several apps can live in one process)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, Metric

# Connections closed by service/protocol.py's read timeouts, by phase: process-wide, like the sockets
# (the protocol runs below any app), shown by every app's registry.
HTTP_TIMEOUTS: Tally[str] = Tally()

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sentiment_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "sentiment_request_latency_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.texts = Counter("sentiment_texts_predicted", "texts predicted, by label", ["label"], registry=r)
        self.batch_size = Histogram("sentiment_batch_size", "texts per forward pass", buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram(
            "sentiment_batch_seconds", "time of one forward pass", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("sentiment_queue_depth", "texts waiting for the model", registry=r)
        self.queue_wait = Histogram(
            "sentiment_queue_wait_seconds", "time a text waited for its batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.rejected = Counter("sentiment_rejected", "texts refused because the queue was full", registry=r)
        self.log_written = Counter("sentiment_log_rows_written", "request-log rows committed", registry=r)
        self.log_dropped = Counter(
            "sentiment_log_rows_dropped", "request-log rows lost (memory cap or shutdown)", registry=r
        )
        self.log_pending = Gauge("sentiment_log_rows_pending", "request-log rows waiting to be written", registry=r)
        self.log_degraded = Gauge("sentiment_log_degraded", "1 while the request-log database is failing", registry=r)
        self.model = Info("sentiment_model", "the model being served", registry=r)
        self.reloads = Counter("sentiment_model_reloads", "model reloads by result", ["result"], registry=r)
        self.rollout_in_step = Gauge(
            "sentiment_rollout_in_step",
            "1 while this replica serves the version of the newest rollout (or none was recorded), else 0",
            registry=r,
        )
        self.rollout_in_step.set(1)
        r.register(_HttpTimeouts())
        self.rollout_poll_failures = Counter(
            "sentiment_rollout_poll_failures", "failed reads of the rollouts table", registry=r
        )
        self.shadow_scored = Counter(
            "sentiment_shadow_texts_scored", "texts a shadow candidate scored, by model", ["model"], registry=r
        )
        self.shadow_dropped = Counter(
            "sentiment_shadow_texts_dropped",
            "texts offered to a shadow candidate and not scored, by reason (queue_full: the CPU is short; "
            "failed: the candidate raised; shutdown)",
            ["reason"],
            registry=r,
        )
        self.shadow_queue = Gauge("sentiment_shadow_queue_depth", "texts waiting for the shadow lane", registry=r)
        self.canary_answers = Counter(
            "sentiment_canary_texts", "texts a canary candidate answered, by model", ["model"], registry=r
        )
        self.candidate_poll_failures = Counter(
            "sentiment_candidate_poll_failures", "failed reads of the candidates table", registry=r
        )


class _HttpTimeouts:
    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "sentiment_http_timeouts",
            "connections closed because their headers or body did not arrive in time, by phase",
            labels=["phase"],
        )
        for phase in ("headers", "body"):
            family.add_metric([phase], HTTP_TIMEOUTS[phase])
        yield family
