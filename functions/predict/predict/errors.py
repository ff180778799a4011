"""The prediction service's typed errors.

``predict.app`` maps each class to one HTTP status (``app.ERROR_STATUS``); everything else
raised here is a bug and answers 500.
"""


class PredictError(Exception):
    """Base class of the service's expected errors; ``str(error)`` is the client message."""


class InvalidRequestError(PredictError):
    """The request cannot be served as sent (-> 4xx)."""


class EmptyImageError(InvalidRequestError):
    """The body or the uploaded file has no bytes."""


class MissingFileFieldError(InvalidRequestError):
    """A multipart request without an uploaded file in the ``file`` field."""


class UnsupportedMediaTypeError(InvalidRequestError):
    """The request's Content-Type is neither an accepted image type nor multipart."""


class ImageDecodeError(InvalidRequestError):
    """The bytes are not a complete JPEG, PNG, WebP or BMP image (unknown, corrupt, truncated)."""


class InvalidJsonBodyError(InvalidRequestError):
    """An ``application/json`` body that is not ``{"image": "<base64>"}`` or whose base64 is
    malformed."""


class TooManyImagesError(InvalidRequestError):
    """A batch request with more images than ``max_batch_images``."""


class UnknownClassError(InvalidRequestError):
    """The ``classes`` query parameter names class ids the serving model does not have."""


class PayloadTooLargeError(InvalidRequestError):
    """The body exceeds the configured byte limit, or the image exceeds the pixel limit
    (a decompression bomb)."""


class ModelUnavailableError(PredictError):
    """No model can serve (-> 503): nothing loaded yet and the aliased version cannot load."""


class AliasNotFoundError(ModelUnavailableError):
    """The SSM alias parameter is missing, unreadable, or names no version yet (``"none"``)."""


class ModelVersionNotFoundError(ModelUnavailableError):
    """The aliased version has no ``manifest.json`` or ``model.onnx`` in S3."""


class InvalidManifestError(ModelUnavailableError):
    """``manifest.json`` is not a valid :class:`predict.manifest.ModelManifest` for the version."""


class ChecksumMismatchError(ModelUnavailableError):
    """``model.onnx`` does not match the manifest's SHA-256."""


class ModelLoadError(ModelUnavailableError):
    """ONNX Runtime cannot load the file, or it does not fit the manifest."""


class ModelShapeError(ModelLoadError):
    """The ONNX input is not ``[1, 3, H, W]`` with (H, W) the manifest's ``imgsz`` (or
    symbolic), or the output is not ``[1, 4 + nc, N]`` with nc the manifest's class count."""


class CacheBudgetError(ModelUnavailableError):
    """``model.onnx`` does not fit the local cache budget (``PREDICT_CACHE_BUDGET_BYTES``),
    alone or beside the versions that serve (which are never evicted)."""


class InvalidCandidateError(ModelUnavailableError):
    """The candidate (canary) parameter is unreadable or holds neither ``none`` nor a
    :class:`predict.canary.CanaryRoute`. Never answered to a client: what served keeps
    serving, and ``GET /health`` says why."""
