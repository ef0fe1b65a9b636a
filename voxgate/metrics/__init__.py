"""Prometheus metrics (prometheus-client): what the gateway counts as requests pass, and what the models, the
batch scheduler and the stores report when `/metrics` is scraped.

Counters live in this process (Prometheus sums replicas, each scraped on its own); job and webhook-delivery
counts are read from the database at scrape time, so every process sharing it reports the same numbers and
they survive a restart. Nothing here imports another voxgate layer: the composition root hands in callables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
REFUSALS = (402, 413, 429)


@dataclass
class Sources:
    """What is read at scrape time (each callable blocks at most on a small query)."""

    models: Callable[[], dict[str, float]] = dict  # loaded model id -> load seconds
    schedulers: Callable[[], dict[str, tuple[int, int, int]]] = dict  # model -> (queued, batches, windows)
    jobs: Callable[[], dict[str, int]] = dict  # status -> jobs
    deliveries: Callable[[], dict[str, int]] = dict  # status -> webhook deliveries
    inferences: Callable[[], dict[str, int]] = dict  # model -> engine runs in this process
    extra: list[Callable[[], Iterable[Metric]]] = field(default_factory=list)


class _Scraped(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        models = self.sources.models()
        loaded = GaugeMetricFamily("voxgate_model_loaded", "Models loaded in this process (1)", labels=["model"])
        load = GaugeMetricFamily("voxgate_model_load_seconds", "How long each loaded model took to load",
                                 labels=["model"])
        for model, seconds in sorted(models.items()):
            loaded.add_metric([model], 1)
            load.add_metric([model], seconds)
        yield loaded
        yield load
        queued = GaugeMetricFamily("voxgate_asr_queue_windows", "Windows waiting in a model's batch scheduler",
                                   labels=["model"])
        batches = CounterMetricFamily("voxgate_asr_batches", "Batches a model's scheduler decoded", labels=["model"])
        windows = CounterMetricFamily("voxgate_asr_batch_windows", "Windows decoded in those batches (their sum "
                                      "over batches is the mean batch size)", labels=["model"])
        for model, (depth, n_batches, n_windows) in sorted(self.sources.schedulers().items()):
            queued.add_metric([model], depth)
            batches.add_metric([model], n_batches)
            windows.add_metric([model], n_windows)
        yield queued
        yield batches
        yield windows
        jobs = GaugeMetricFamily("voxgate_jobs", "Async transcription jobs by status (from the database)",
                                 labels=["status"])
        for status, n in sorted(self.sources.jobs().items()):
            jobs.add_metric([status], n)
        yield jobs
        deliveries = GaugeMetricFamily("voxgate_webhook_deliveries", "Webhook deliveries by outcome (from the "
                                       "database)", labels=["status"])
        for status, n in sorted(self.sources.deliveries().items()):
            deliveries.add_metric([status], n)
        yield deliveries
        inferences = CounterMetricFamily("voxgate_inferences", "Engine runs by model in this process (a replayed "
                                         "or refused request runs none)", labels=["model"])
        for model, n in sorted(self.sources.inferences().items()):
            inferences.add_metric([model], n)
        yield inferences
        for extra in self.sources.extra:
            yield from extra()


class Metrics:
    """Every series voxgate exports, on a registry of its own (tests may build several in one process)."""

    def __init__(self, sources: Sources | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("voxgate_requests", "HTTP requests and realtime sessions, by route, method, status "
                                "and model", ["route", "method", "status", "model"], registry=r)
        self.latency = Histogram("voxgate_request_duration_seconds", "Time from request to the end of the response",
                                 ["route", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.refused = Counter("voxgate_refused", "Requests refused for credits (402), size (413) or rate (429)",
                               ["status", "route"], registry=r)
        self.units = Counter("voxgate_units", "What the models did: audio seconds transcribed, characters "
                             "synthesised, tokens generated (the metered units)", ["model", "unit"], registry=r)
        self.replays = Counter("voxgate_idempotent_replays", "Responses replayed for a repeated Idempotency-Key",
                               registry=r)
        self.conflicts = Counter("voxgate_idempotency_conflicts", "Idempotency-Key refusals: 409 still running, "
                                 "422 reused with another request", ["code"], registry=r)
        self.realtime_sessions = Gauge("voxgate_realtime_sessions", "Realtime WebSocket sessions open", ["kind"],
                                       registry=r)
        self.sources = sources or Sources()
        r.register(_Scraped(self.sources))

    def request(self, route: str, method: str, status: int, model: str | None, seconds: float) -> None:
        model = model or ""
        self.requests.labels(route, method, str(status), model).inc()
        self.latency.labels(route, model).observe(seconds)
        if status in REFUSALS:
            self.refused.labels(str(status), route).inc()

    def used(self, model: str, unit: str, units: int) -> None:
        if units > 0:
            self.units.labels(model, unit).inc(units)

    def snapshot(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Every series as (labels, value) by sample name, read off the registry that /metrics renders
        (histogram buckets left out): what /v1/admin/stats reports (blocking, like render)."""
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith(("_bucket", "_created")):
                    continue
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return out

    def render(self) -> bytes:
        """The text exposition (blocking: the scraped sources query the database)."""
        return generate_latest(self.registry)
