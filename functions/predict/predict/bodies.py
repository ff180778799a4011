"""Request bodies -> encoded image bytes: a raw ``image/*`` body, multipart uploads, or JSON
``{"image": "<base64>"}``. Decoding the image itself is :mod:`predict.images`' job.

Example:
    >>> data = await read_image_bytes(request, settings)          # POST /predict
    >>> uploads = await read_batch_uploads(request, settings)    # POST /predict/batch
"""

import base64
import binascii
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from predict.errors import (
    EmptyImageError,
    InvalidJsonBodyError,
    MissingFileFieldError,
    PayloadTooLargeError,
    TooManyImagesError,
    UnsupportedMediaTypeError,
)
from predict.schemas import Base64ImageRequest
from predict.settings import Settings

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
MULTIPART = "multipart/form-data"
JSON = "application/json"
FILE_FIELD = "file"
"""The multipart field of ``POST /predict``."""
FILES_FIELD = "files"
"""The repeated multipart field of ``POST /predict/batch``."""
_MAX_MULTIPART_PARTS = 1000  # the body limit bounds the work; counting is ours to report


@dataclass(frozen=True)
class Upload:
    """One uploaded image of a batch: its position, the client's filename, its bytes."""

    index: int
    filename: str | None
    data: bytes


def content_type_of(request: Request) -> str:
    """The media type of the request body, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, settings: Settings) -> bytes:
    """The whole body, at most ``settings.max_body_bytes``.

    Raises:
        PayloadTooLargeError, EmptyImageError: as their names say.
    """
    limit = settings.max_body_bytes
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes, more than {limit}")
    if not body:
        raise EmptyImageError("request body is empty; send an image")
    return body


async def read_image_bytes(request: Request, settings: Settings) -> bytes:
    """The one image of ``POST /predict``: a raw ``image/*`` body, the multipart ``file``
    field, or the base64 ``image`` of a JSON body.

    Raises:
        EmptyImageError, MissingFileFieldError, InvalidJsonBodyError,
        UnsupportedMediaTypeError, PayloadTooLargeError: as their names say.
    """
    body = await read_body(request, settings)
    content_type = content_type_of(request)
    if content_type == MULTIPART:
        async with request.form(
            max_files=1, max_fields=10, max_part_size=settings.max_body_bytes
        ) as form:
            upload = form.get(FILE_FIELD)
            if not isinstance(upload, UploadFile):
                raise MissingFileFieldError(
                    f"multipart body has no uploaded file in the {FILE_FIELD!r} field"
                )
            data = await upload.read()
        if not data:
            raise EmptyImageError(f"the uploaded {FILE_FIELD!r} is empty")
        return data
    if content_type == JSON:
        return decode_base64_body(body)
    if content_type in RAW_IMAGE_TYPES:
        return body
    accepted = ", ".join(sorted(RAW_IMAGE_TYPES | {MULTIPART, JSON}))
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Type {content_type or '(none)'!r}; send one of: {accepted}"
    )


def decode_base64_body(body: bytes) -> bytes:
    """The image bytes of a JSON ``{"image": "<base64>"}`` body.

    Whitespace (MIME line breaks), the URL-safe alphabet and a ``data:...;base64,`` prefix
    are accepted; anything else outside the base64 alphabet, or bad padding, is not.

    Raises:
        InvalidJsonBodyError: not that JSON shape, or malformed base64.
        EmptyImageError: ``image`` decodes to no bytes.
    """
    try:
        text = Base64ImageRequest.model_validate_json(body).image
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidJsonBodyError(
            f'JSON body must be {{"image": "<base64>"}}: {problems}'
        ) from exc
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise InvalidJsonBodyError(f"'image' is a data URL without ';base64': {header!r}")
    text = "".join(text.split()).translate(str.maketrans("-_", "+/"))
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidJsonBodyError(f"'image' is not valid base64: {exc}") from exc
    if not data:
        raise EmptyImageError("'image' is empty")
    return data


async def read_batch_uploads(request: Request, settings: Settings) -> list[Upload]:
    """The images of ``POST /predict/batch``: every file in the repeated ``files`` field.

    Raises:
        UnsupportedMediaTypeError: the body is not ``multipart/form-data``.
        MissingFileFieldError: no uploaded file in ``files`` (or a text part there).
        TooManyImagesError: more than ``settings.max_batch_images`` files.
        EmptyImageError, PayloadTooLargeError: the whole body is empty or too large (an
            empty part is the caller's to answer, per image).
    """
    await read_body(request, settings)
    content_type = content_type_of(request)
    if content_type != MULTIPART:
        raise UnsupportedMediaTypeError(
            f"unsupported Content-Type {content_type or '(none)'!r}; send {MULTIPART} with "
            f"one {FILES_FIELD!r} part per image"
        )
    async with request.form(
        max_files=_MAX_MULTIPART_PARTS,
        max_fields=_MAX_MULTIPART_PARTS,
        max_part_size=settings.max_body_bytes,
    ) as form:
        parts = form.getlist(FILES_FIELD)
        if not parts:
            raise MissingFileFieldError(
                f"multipart body has no uploaded file in the {FILES_FIELD!r} field"
            )
        if len(parts) > settings.max_batch_images:
            raise TooManyImagesError(
                f"{len(parts)} images sent, at most {settings.max_batch_images} per request"
            )
        uploads = []
        for index, part in enumerate(parts):
            if not isinstance(part, UploadFile):
                raise MissingFileFieldError(
                    f"{FILES_FIELD}[{index}] is a text field, not an uploaded file"
                )
            uploads.append(Upload(index=index, filename=part.filename, data=await part.read()))
    return uploads
