"""Prometheus metrics of a node, in a registry of its own (several nodes may share a test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class NodeMetrics:
    """Counters and histograms exposed at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.envelopes_received = Counter(
            "hanoinet_envelopes_received", "Envelopes received, by outcome (accepted, duplicate or refusal code)",
            ["outcome"], registry=self.registry,
        )
        self.deliveries = Counter(
            "hanoinet_delivery_attempts", "Delivery attempts, by outcome", ["outcome"], registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "hanoinet_delivery_latency_seconds", "From outbox commit to stored receipt",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600), registry=self.registry,
        )
        self.evidence_swept = Counter(
            "hanoinet_evidence_swept", "Leftovers the evidence sweeper removed, by kind", ["kind"],
            registry=self.registry,
        )
        self.evidence_swept_bytes = Counter(
            "hanoinet_evidence_swept_bytes", "Bytes the evidence sweeper freed, by kind", ["kind"],
            registry=self.registry,
        )
