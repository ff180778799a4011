"""Lambda entry point: ``predict.handler.handler`` (API Gateway REST proxy events -> FastAPI).

The app and its model store are built once per execution environment, at import; the
model itself loads on the first request that needs it (the cold start), then stays warm.
Logs are structured JSON with the Lambda request id and, as correlation id, API Gateway's.
Each invocation prints its CloudWatch metrics (Embedded Metric Format: ``PredictLatency``,
``Detections``, ``Images`` by ``ModelVersion``, plus ``ColdStart``) when it ends.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from predict.app import create_app
from predict.settings import Settings

# The Powertools logger is the standard logger "predict", so the package's module loggers
# ("predict.model_store", ...) propagate to its JSON handler and carry the same keys.
logger = Logger(service="predict")

# /health, /model/info and errors record no application metrics; that is expected, not news.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)

settings = Settings()
metrics = Metrics(namespace=settings.metrics_namespace, service="predict")
app = create_app(settings, metrics=metrics)
handler = metrics.log_metrics(
    logger.inject_lambda_context(
        Mangum(app, lifespan="off"),
        correlation_id_path=correlation_paths.API_GATEWAY_REST,
    ),
    capture_cold_start_metric=True,
)
