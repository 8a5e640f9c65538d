"""Prometheus metrics, one registry per app so that several apps (tests) never share counters."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("tixel_requests", "HTTP requests", ["path", "status"], registry=self.registry)
        self.latency = Histogram("tixel_request_latency_seconds", "request latency", ["path"], registry=self.registry)
        self.batch = Histogram("tixel_batch_size", "items per forward pass", ["model"], buckets=BATCH_BUCKETS,
                               registry=self.registry)

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)
