"""Service metrics: Prometheus counters for ``GET /metrics`` and CloudWatch EMF per invocation.

Prometheus series live in one :class:`~prometheus_client.CollectorRegistry` per app, so
they describe one execution environment (what a scrape of ``/metrics`` through API Gateway
reaches). The fleet-wide view is the Embedded Metric Format: Powertools' ``Metrics``
collects :func:`record_prediction`'s values and ``log_metrics`` prints them as one JSON
blob per invocation, which CloudWatch turns into metrics.

Example:
    >>> prometheus = PrometheusMetrics()
    >>> app.add_middleware(MetricsMiddleware, prometheus=prometheus, model_version=lambda: "3")
    >>> prometheus.exposition()
    b'# HELP predict_requests_total ...'
"""

import time
from collections.abc import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predict.schemas import MODEL_VERSION_HEADER

EmfMetrics = Metrics | EphemeralMetrics
PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST
NO_MODEL_VERSION = "none"
"""``model_version`` label when no model has loaded yet."""
UNMATCHED_ROUTE = "unmatched"
"""``route`` label of requests no route matched (keeps the label set bounded)."""

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class PrometheusMetrics:
    """Request count and latency by route, status and model version, in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "status", "model_version")
        self.requests = Counter(
            "predict_requests",
            "HTTP requests answered.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "predict_request_duration_seconds",
            "Time from request start to the end of the response body.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, status: int, model_version: str, seconds: float) -> None:
        """Count one answered request."""
        labels = {"route": route, "status": str(status), "model_version": model_version}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware that times every HTTP request into :class:`PrometheusMetrics`.

    The ``model_version`` label is the response's ``X-Model-Version`` header (the version
    that answered: the champion or, during a canary, the candidate); responses without
    it (health, errors) take ``model_version()``.

    Args:
        app: the wrapped ASGI app.
        prometheus: where to record.
        model_version: the champion serving now, or None before the first load.
    """

    def __init__(
        self, app: ASGIApp, prometheus: PrometheusMetrics, model_version: Callable[[], str | None]
    ) -> None:
        self.app = app
        self.prometheus = prometheus
        self.model_version = model_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 outside this middleware
        answered_by: str | None = None

        async def send_and_record_status(message: Message) -> None:
            nonlocal status, answered_by
            if message["type"] == "http.response.start":
                status = message["status"]
                answered_by = Headers(raw=message.get("headers", [])).get(MODEL_VERSION_HEADER)
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = scope.get("route")
            self.prometheus.observe(
                route=getattr(route, "path", None) or UNMATCHED_ROUTE,
                status=status,
                model_version=answered_by or self.model_version() or NO_MODEL_VERSION,
                seconds=time.perf_counter() - started,
            )


def record_prediction(
    metrics: EmfMetrics | None,
    model_version: str,
    latency_ms: float,
    detections: int,
    images: int = 1,
) -> None:
    """Add one served prediction request to the invocation's EMF metrics (no-op without them).

    ``PredictLatency`` covers decoding, inference and post-processing of every image in the
    request; the ``ModelVersion`` dimension tells versions apart across a rollout.
    """
    if metrics is None:
        return
    metrics.add_dimension(name="ModelVersion", value=model_version)
    metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="Detections", unit=MetricUnit.Count, value=detections)
    metrics.add_metric(name="Images", unit=MetricUnit.Count, value=images)
