"""predict.metrics: a private Prometheus registry per app, and the EMF values of a prediction
(the middleware and the flushed EMF blob are tested end to end in test_handler.py)."""

import prometheus_client
import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics
from prometheus_client.parser import text_string_to_metric_families

from predict.metrics import PrometheusMetrics, record_prediction


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_each_instance_has_its_own_registry_not_the_global_one() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.observe("/predict", 200, "3", 0.2)
    first.observe("/predict", 200, "3", 0.4)
    labels = (("model_version", "3"), ("route", "/predict"), ("status", "200"))
    assert samples(first)[("predict_requests_total", labels)] == 2
    assert samples(first)[("predict_request_duration_seconds_count", labels)] == 2
    assert samples(first)[("predict_request_duration_seconds_sum", labels)] == pytest.approx(0.6)
    assert ("predict_requests_total", labels) not in samples(second)
    assert (
        prometheus_client.REGISTRY.get_sample_value("predict_requests_total", dict(labels)) is None
    )


def test_record_prediction_adds_latency_detections_and_the_version_dimension() -> None:
    metrics = EphemeralMetrics(namespace="ServerlessDetector", service="predict")
    record_prediction(metrics, "3", latency_ms=12.5, detections=4, images=2)
    blob = metrics.serialize_metric_set()
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ServerlessDetector"
    assert [sorted(d) for d in directive["Dimensions"]] == [["ModelVersion", "service"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"PredictLatency": "Milliseconds", "Detections": "Count", "Images": "Count"}
    assert blob["ModelVersion"] == "3"
    assert (blob["PredictLatency"], blob["Detections"], blob["Images"]) == ([12.5], [4], [2])
    record_prediction(None, "3", latency_ms=1, detections=1)  # no metrics: nothing to do
