"""Lambda entry point: ``predict.handler.handler`` (API Gateway REST proxy events -> FastAPI).

The app and its model store are built once per execution environment, at import; the
model itself loads on the first request that needs it (the cold start), then stays warm.
Logs are structured JSON with the Lambda request id and, as correlation id, API Gateway's.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from predict.app import create_app

# The Powertools logger is the standard logger "predict", so the package's module loggers
# ("predict.model_store", ...) propagate to its JSON handler and carry the same keys.
logger = Logger(service="predict")

app = create_app()
handler = logger.inject_lambda_context(
    Mangum(app, lifespan="off"),
    correlation_id_path=correlation_paths.API_GATEWAY_REST,
)
