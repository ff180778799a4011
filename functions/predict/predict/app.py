"""The prediction API (FastAPI). ``create_app`` builds it; ``predict.handler`` serves it on Lambda.

Example:
    >>> app = create_app(Settings(models_bucket="my-models"))
    >>> TestClient(app).post("/predict", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from predict.errors import (
    EmptyImageError,
    ImageDecodeError,
    InvalidRequestError,
    MissingFileFieldError,
    ModelUnavailableError,
    PayloadTooLargeError,
    PredictError,
    UnsupportedMediaTypeError,
)
from predict.images import decode_image
from predict.model_store import ModelStore
from predict.schemas import (
    ErrorResponse,
    HealthResponse,
    ModelInfoResponse,
    PredictionResponse,
)
from predict.settings import Settings

ERROR_STATUS: dict[type[PredictError], int] = {
    EmptyImageError: 400,
    MissingFileFieldError: 400,
    ImageDecodeError: 400,
    UnsupportedMediaTypeError: 415,
    PayloadTooLargeError: 413,
    InvalidRequestError: 400,
    ModelUnavailableError: 503,
}
"""The one mapping from error type to HTTP status; the first matching base class wins."""

RAW_IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/bmp",
        "image/x-ms-bmp",
        "application/octet-stream",
    }
)
FILE_FIELD = "file"

_IMAGE_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                "required": [FILE_FIELD],
            }
        },
        **{t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(RAW_IMAGE_TYPES)},
    },
    "required": True,
}
_ERRORS = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Empty body, missing `file` field, or not a decodable image",
        413: "Body or image too large",
        415: "Content-Type is not an accepted image type or multipart/form-data",
        503: "No model version can serve",
    }.items()
}


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


async def read_image_bytes(request: Request, settings: Settings) -> bytes:
    """The image in the request: a raw ``image/*`` body or the multipart ``file`` field.

    Raises:
        EmptyImageError, MissingFileFieldError, UnsupportedMediaTypeError,
        PayloadTooLargeError: as their names say.
    """
    limit = settings.max_body_bytes
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes, more than {limit}")
    if not body:
        raise EmptyImageError("request body is empty; send an image or a multipart 'file' field")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10, max_part_size=limit) as form:
            upload = form.get(FILE_FIELD)
            if not isinstance(upload, UploadFile):
                raise MissingFileFieldError(
                    f"multipart body has no uploaded file in the {FILE_FIELD!r} field"
                )
            data = await upload.read()
        if not data:
            raise EmptyImageError(f"the uploaded {FILE_FIELD!r} is empty")
        return data
    if content_type in RAW_IMAGE_TYPES:
        return body
    accepted = ", ".join(sorted(RAW_IMAGE_TYPES | {"multipart/form-data"}))
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Type {content_type or '(none)'!r}; send one of: {accepted}"
    )


def create_app(settings: Settings | None = None, store: ModelStore | None = None) -> FastAPI:
    """Build the API.

    Args:
        settings: configuration; read from ``PREDICT_*`` environment variables by default.
        store: the model store; built from ``settings`` by default (no AWS call until the
            first request that needs a model).
    """
    settings = settings or Settings()
    app = FastAPI(
        title="Object detection",
        summary="YOLO11 detections with ONNX Runtime; the model version comes from an SSM alias.",
        version="1",
    )
    app.state.settings = settings
    app.state.store = store or ModelStore(settings)

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
        loaded = store.loaded
        return HealthResponse(
            model_loaded=loaded is not None,
            model_version=loaded.manifest.version if loaded else None,
        )

    @app.get("/model/info", response_model=ModelInfoResponse, responses={503: _ERRORS[503]})
    def model_info(store: StoreDep) -> ModelInfoResponse:
        model = store.current()
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
        )

    @app.post(
        "/predict",
        response_model=PredictionResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": _IMAGE_BODY},
    )
    async def predict(
        request: Request,
        settings: SettingsDep,
        store: StoreDep,
        conf: Annotated[float | None, Query(ge=0, le=1, description="Confidence threshold")] = None,
        iou: Annotated[float | None, Query(ge=0, le=1, description="NMS IoU threshold")] = None,
        max_det: Annotated[int | None, Query(ge=1, le=1000)] = None,
        classes: Annotated[list[int] | None, Query(description="Class ids to keep")] = None,
    ) -> PredictionResponse:
        """Detect objects in an image sent as a raw ``image/*`` body or a multipart ``file``."""
        data = await read_image_bytes(request, settings)
        image = await run_in_threadpool(decode_image, data, settings.max_image_pixels)
        model = await run_in_threadpool(store.current)
        detections = await run_in_threadpool(
            model.detector.predict,
            image,
            conf=settings.conf if conf is None else conf,
            iou=settings.iou if iou is None else iou,
            max_det=max_det or settings.max_det,
            classes=classes,
        )
        return PredictionResponse(
            model_name=model.manifest.model_name,
            model_version=model.manifest.version,
            image_width=image.shape[1],
            image_height=image.shape[0],
            detections=detections,
        )

    return app
