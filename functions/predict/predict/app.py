"""The prediction API (FastAPI). ``create_app`` builds it; ``predict.handler`` serves it on Lambda.

Routes: ``POST /predict`` (one image), ``POST /predict/batch`` (several), ``GET /health``,
``GET /model/info``, ``GET /metrics`` (Prometheus text format); ``/docs`` and
``/openapi.json`` describe them.

Example:
    >>> app = create_app(Settings(models_bucket="my-models"))
    >>> TestClient(app).post("/predict", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
"""

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from predict.bodies import (
    FILE_FIELD,
    FILES_FIELD,
    JSON,
    MULTIPART,
    RAW_IMAGE_TYPES,
    Upload,
    read_batch_uploads,
    read_image_bytes,
)
from predict.errors import (
    EmptyImageError,
    ImageDecodeError,
    InvalidJsonBodyError,
    InvalidRequestError,
    MissingFileFieldError,
    ModelUnavailableError,
    PayloadTooLargeError,
    PredictError,
    TooManyImagesError,
    UnknownClassError,
    UnsupportedMediaTypeError,
)
from predict.images import decode_image
from predict.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    EmfMetrics,
    MetricsMiddleware,
    PrometheusMetrics,
    record_prediction,
)
from predict.model_store import LoadedModel, ModelStore, Selection
from predict.schemas import (
    MODEL_ALIAS_HEADER,
    MODEL_VERSION_HEADER,
    Base64ImageRequest,
    BatchImageError,
    BatchImagePrediction,
    BatchPredictionResponse,
    ErrorResponse,
    HealthResponse,
    ImagePrediction,
    ModelInfoResponse,
    PredictionResponse,
    TimingsMs,
)
from predict.settings import Settings

ERROR_STATUS: dict[type[PredictError], int] = {
    EmptyImageError: 400,
    MissingFileFieldError: 400,
    ImageDecodeError: 400,
    InvalidJsonBodyError: 400,
    TooManyImagesError: 400,
    UnknownClassError: 422,
    UnsupportedMediaTypeError: 415,
    PayloadTooLargeError: 413,
    InvalidRequestError: 400,
    ModelUnavailableError: 503,
}
"""The one mapping from error type to HTTP status; the first matching base class wins."""

MAX_DET_LIMIT = 1000
_CLASS_IDS = r"^\s*\d{1,9}(\s*,\s*\d{1,9})*\s*$"

_BINARY = {"type": "string", "format": "binary"}
_IMAGE_BODY = {
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {FILE_FIELD: _BINARY},
                "required": [FILE_FIELD],
            }
        },
        JSON: {"schema": Base64ImageRequest.model_json_schema()},
        **{t: {"schema": _BINARY} for t in sorted(RAW_IMAGE_TYPES)},
    },
    "required": True,
}


_SERVED_BY_HEADERS = {
    MODEL_VERSION_HEADER: {
        "description": "Registered model version that answered.",
        "schema": {"type": "string"},
    },
    MODEL_ALIAS_HEADER: {
        "description": "`champion`, or `candidate` while a canary takes a share of requests.",
        "schema": {"type": "string", "enum": ["champion", "candidate"]},
    },
}


def _errors(descriptions: dict[int, str]) -> dict[int | str, dict]:
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in descriptions.items()
    }


_QUERY_ERROR = "Query parameter out of range or malformed, or `classes` names unknown class ids"
_PREDICT_ERRORS = {
    200: {"headers": _SERVED_BY_HEADERS},
    **_errors(
        {
            400: "Empty body, missing `file` field, malformed JSON or base64, undecodable image",
            413: "Body or image too large",
            415: "Content-Type is not an image type, multipart/form-data or application/json",
            422: _QUERY_ERROR,
            503: "No model version can serve",
        }
    ),
}
_BATCH_ERRORS = {
    200: {
        "headers": _SERVED_BY_HEADERS,
        "description": "Every image answered, or its own error in `results` (status 400/413)",
    },
    **_errors(
        {
            400: "No `files` part, a text part in `files`, too many images",
            413: "Body too large",
            415: "Content-Type is not multipart/form-data",
            422: _QUERY_ERROR,
            503: "No model version can serve",
        }
    ),
}
_IMAGE_ERRORS = (EmptyImageError, ImageDecodeError, PayloadTooLargeError)
"""What one bad image of a batch answers in its own result instead of failing the batch."""


def status_for(error: PredictError) -> int:
    """HTTP status of a service error, from :data:`ERROR_STATUS`."""
    for error_type in type(error).__mro__:
        if error_type in ERROR_STATUS:
            return ERROR_STATUS[error_type]
    return 500


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    """A JSON :class:`ErrorResponse`."""
    body = ErrorResponse(error=error, detail=detail).model_dump()
    return JSONResponse(status_code=status, content=body)


def get_settings(request: Request) -> Settings:
    """The app's settings (dependency)."""
    return request.app.state.settings


def get_store(request: Request) -> ModelStore:
    """The app's model store (dependency)."""
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]


@dataclass(frozen=True)
class DetectionParams:
    """Thresholds of one request: query parameters, else the settings' defaults."""

    conf: float
    iou: float
    max_det: int
    classes: list[int] | None


def detection_params(
    settings: SettingsDep,
    conf: Annotated[
        float | None, Query(ge=0, le=1, description="Confidence threshold (exclusive).")
    ] = None,
    iou: Annotated[float | None, Query(ge=0, le=1, description="NMS IoU threshold.")] = None,
    max_det: Annotated[
        int | None, Query(ge=1, le=MAX_DET_LIMIT, description="Most detections per image.")
    ] = None,
    classes: Annotated[
        list[Annotated[str, StringConstraints(pattern=_CLASS_IDS)]] | None,
        Query(
            description="Class ids to keep, repeated (`classes=0&classes=2`) or "
            "comma-separated (`classes=0,2`); all when absent. Unknown ids answer 422."
        ),
    ] = None,
) -> DetectionParams:
    """The request's :class:`DetectionParams` (dependency); FastAPI checks the ranges."""
    class_ids = (
        sorted({int(c) for value in classes for c in value.split(",")})
        if classes is not None
        else None
    )
    return DetectionParams(
        conf=settings.conf if conf is None else conf,
        iou=settings.iou if iou is None else iou,
        max_det=settings.max_det if max_det is None else max_det,
        classes=class_ids,
    )


ParamsDep = Annotated[DetectionParams, Depends(detection_params)]


def check_classes(classes: list[int] | None, model: LoadedModel) -> None:
    """Raise :class:`UnknownClassError` naming the ids the model does not have."""
    known = model.detector.class_names
    unknown = sorted(set(classes or ()) - set(known))
    if unknown:
        raise UnknownClassError(
            f"unknown class ids {unknown} in 'classes'; model {model.manifest.model_name!r} "
            f"version {model.manifest.version!r} has {dict(sorted(known.items()))}"
        )


def detect_in_image(
    data: bytes,
    store: ModelStore,
    settings: Settings,
    params: DetectionParams,
    selection: Selection | None = None,
) -> tuple[Selection, ImagePrediction]:
    """Decode, then detect with ``selection``'s model (the store picks one if None: the
    champion, or the canary's candidate for its share), timing each step.

    The image is decoded before the model is resolved, so bad input answers 4xx even while
    no model can serve.
    """
    started = time.perf_counter()
    image = decode_image(data, settings.max_image_pixels)
    decode_ms = (time.perf_counter() - started) * 1000
    if selection is None:
        selection = store.select()
        check_classes(params.classes, selection.model)
    detections, stages = selection.model.detector.detect(
        image, conf=params.conf, iou=params.iou, max_det=params.max_det, classes=params.classes
    )
    prediction = ImagePrediction(
        image_width=image.shape[1],
        image_height=image.shape[0],
        detections=detections,
        timings_ms=TimingsMs(decode=decode_ms, **stages.model_dump()),
    )
    return selection, prediction


def detect_in_batch(
    uploads: list[Upload], store: ModelStore, settings: Settings, params: DetectionParams
) -> tuple[Selection, list[BatchImagePrediction | BatchImageError]]:
    """:func:`detect_in_image` for each upload in turn (one decoded image in memory at a
    time), all with one model. An image that cannot be read gets a
    :class:`BatchImageError` in its place; the others are answered."""
    selection = store.select()
    check_classes(params.classes, selection.model)
    results: list[BatchImagePrediction | BatchImageError] = []
    for upload in uploads:
        where = {"index": upload.index, "filename": upload.filename}
        try:
            if not upload.data:
                raise EmptyImageError(f"{FILES_FIELD}[{upload.index}] is empty")
            _, prediction = detect_in_image(upload.data, store, settings, params, selection)
        except _IMAGE_ERRORS as exc:
            results.append(
                BatchImageError(
                    **where, status=status_for(exc), error=type(exc).__name__, detail=str(exc)
                )
            )
        else:
            results.append(BatchImagePrediction(**where, **dict(prediction)))
    return selection, results


def served_by(response: Response, selection: Selection) -> dict[str, str]:
    """Set the ``X-Model-Version`` and ``X-Model-Alias`` headers; the response fields saying
    the same."""
    response.headers[MODEL_VERSION_HEADER] = selection.model.version
    response.headers[MODEL_ALIAS_HEADER] = selection.alias
    return {
        "model_name": selection.model.manifest.model_name,
        "model_version": selection.model.version,
        "model_alias": selection.alias,
    }


def create_app(
    settings: Settings | None = None,
    store: ModelStore | None = None,
    metrics: EmfMetrics | None = None,
) -> FastAPI:
    """Build the API.

    Args:
        settings: configuration; read from ``PREDICT_*`` environment variables by default.
        store: the model store; built from ``settings`` by default (no AWS call until the
            first request that needs a model).
        metrics: Powertools metrics that each prediction adds to (EMF, flushed per
            invocation by ``predict.handler``); none recorded when None.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="Object detection",
        summary="YOLO11 detections with ONNX Runtime; the model version comes from an SSM alias.",
        version="1",
    )
    app.state.settings = settings
    app.state.store = store = store or ModelStore(settings)
    app.state.metrics = metrics
    app.state.prometheus = prometheus = PrometheusMetrics()
    app.add_middleware(
        MetricsMiddleware,
        prometheus=prometheus,
        model_version=lambda: store.loaded.version if store.loaded else None,
    )

    @app.exception_handler(PredictError)
    async def _predict_error(_: Request, exc: PredictError) -> JSONResponse:
        return error_response(status_for(exc), type(exc).__name__, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "HTTPException", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error_response(422, "RequestValidationError", detail)

    @app.get("/health", response_model=HealthResponse)
    def health(store: StoreDep) -> HealthResponse:
        """Liveness and whether what the aliases name serves. Never loads a model in the
        request: a cold environment reports what it has (nothing); a warm one re-reads the
        aliases (cached for the TTL), so a problem that a rollback fixed is gone."""
        if store.loaded is not None:
            store.refresh()
        serving, problem = store.serving, store.problem
        return HealthResponse(
            status="degraded" if problem else "ok",
            model_loaded=serving.champion is not None,
            model_version=serving.champion.version if serving.champion else None,
            candidate_version=serving.candidate.version if serving.candidate else None,
            canary_percent=serving.route.percent if serving.route else None,
            reason=problem.reason if problem else None,
            error=problem.error if problem else None,
            since=problem.at if problem else None,
        )

    @app.get(
        "/model/info",
        response_model=ModelInfoResponse,
        responses=_errors({503: "No model version can serve"}),
    )
    def model_info(store: StoreDep, settings: SettingsDep) -> ModelInfoResponse:
        """The champion the alias names (loading it if needed), its provenance, and the
        canary's candidate if one serves."""
        model = store.current()
        serving = store.serving
        m = model.manifest
        return ModelInfoResponse(
            model_name=m.model_name,
            version=m.version,
            sha256=m.sha256,
            s3_uri=model.s3_uri,
            mlflow_run_id=m.mlflow_run_id,
            metrics=m.metrics,
            class_names=m.class_names,
            imgsz=m.imgsz,
            created_at=m.created_at,
            alias_parameter=settings.alias_parameter,
            loaded_at=model.loaded_at,
            candidate_parameter=settings.candidate_parameter,
            candidate_version=serving.candidate.version if serving.candidate else None,
            canary_percent=serving.route.percent if serving.route else None,
        )

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text format: requests and latency by route, "
                "status and model version, for this execution environment only.",
                "content": {PROMETHEUS_CONTENT_TYPE: {"schema": {"type": "string"}}},
            }
        },
    )
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics of this execution environment."""
        body = request.app.state.prometheus.exposition()
        return Response(content=body, media_type=PROMETHEUS_CONTENT_TYPE)

    @app.post(
        "/predict",
        response_model=PredictionResponse,
        responses=_PREDICT_ERRORS,
        openapi_extra={"requestBody": _IMAGE_BODY},
    )
    async def predict(
        request: Request,
        response: Response,
        settings: SettingsDep,
        store: StoreDep,
        params: ParamsDep,
    ) -> PredictionResponse:
        """Detect objects in an image sent as a raw ``image/*`` body, a multipart ``file``,
        or JSON ``{"image": "<base64>"}``."""
        started = time.perf_counter()
        data = await read_image_bytes(request, settings)
        selection, prediction = await run_in_threadpool(
            detect_in_image, data, store, settings, params
        )
        record_prediction(
            request.app.state.metrics,
            selection.model.version,
            latency_ms=(time.perf_counter() - started) * 1000,
            detections=len(prediction.detections),
        )
        return PredictionResponse(**served_by(response, selection), **dict(prediction))

    batch_body = {
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {
                        FILES_FIELD: {
                            "type": "array",
                            "items": _BINARY,
                            "minItems": 1,
                            "maxItems": settings.max_batch_images,
                        }
                    },
                    "required": [FILES_FIELD],
                }
            }
        },
        "required": True,
    }

    @app.post(
        "/predict/batch",
        response_model=BatchPredictionResponse,
        responses=_BATCH_ERRORS,
        openapi_extra={"requestBody": batch_body},
    )
    async def predict_batch(
        request: Request,
        response: Response,
        settings: SettingsDep,
        store: StoreDep,
        params: ParamsDep,
    ) -> BatchPredictionResponse:
        """Detect objects in each image of a multipart body (one ``files`` part per image,
        at most ``max_batch_images``, the whole body within ``max_body_bytes``); results in
        request order, all from one model version. An image that cannot be read gets its
        own error in ``results``; the others are answered."""
        started = time.perf_counter()
        uploads = await read_batch_uploads(request, settings)
        selection, results = await run_in_threadpool(
            detect_in_batch, uploads, store, settings, params
        )
        answered = [r for r in results if isinstance(r, BatchImagePrediction)]
        record_prediction(
            request.app.state.metrics,
            selection.model.version,
            latency_ms=(time.perf_counter() - started) * 1000,
            detections=sum(len(r.detections) for r in answered),
            images=len(answered),
        )
        return BatchPredictionResponse(
            **served_by(response, selection),
            results=results,
            failed=len(results) - len(answered),
        )

    return app
