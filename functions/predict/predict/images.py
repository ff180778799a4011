"""Image bytes -> RGB uint8 array, with Pillow.

Example:
    >>> rgb = decode_image(Path("bus.jpg").read_bytes())
    >>> rgb.shape, rgb.dtype
    ((1080, 810, 3), dtype('uint8'))
"""

import contextlib
import io

import numpy as np
from PIL import (  # the four plugins registered up front: Pillow then never imports all ~40
    BmpImagePlugin,  # noqa: F401
    Image,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from predict.errors import EmptyImageError, ImageDecodeError, PayloadTooLargeError

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
"""Pillow format names the service decodes; other parsers are never reached."""

_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode a JPEG, PNG, WebP or BMP into an upright ``(H, W, 3)`` uint8 RGB array.

    The EXIF orientation is applied, as phones store rotated JPEGs. Grayscale, palette,
    CMYK and 1-bit images become RGB; an alpha channel is dropped (as OpenCV's ``imread``
    does for training images); 16-bit grayscale keeps its top 8 bits.

    Args:
        data: the encoded image.
        max_pixels: largest width x height accepted; checked from the header, before decoding.

    Raises:
        EmptyImageError: ``data`` is empty.
        ImageDecodeError: not one of the accepted formats, corrupt or truncated.
        PayloadTooLargeError: more than ``max_pixels`` pixels (a decompression bomb).
    """
    if not data:
        raise EmptyImageError("the image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLargeError(
                f"image is {width}x{height} pixels, more than the {max_pixels} allowed"
            )
        image.load()
    except Image.DecompressionBombError as exc:
        raise PayloadTooLargeError(f"image has too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not a JPEG, PNG, WebP or BMP image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated"),
        # SyntaxError (broken PNG chunks) or ValueError.
        raise ImageDecodeError(f"corrupt or truncated {image_format(data)} image: {exc}") from exc
    with contextlib.suppress(Exception):  # a malformed EXIF block should not reject the image
        image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def image_format(data: bytes) -> str:
    """A format name for messages, from the magic bytes (``"image"`` when unknown)."""
    signatures = {
        b"\xff\xd8\xff": "JPEG",
        b"\x89PNG": "PNG",
        b"BM": "BMP",
    }
    for magic, name in signatures.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return "image"


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = (np.asarray(image).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()
