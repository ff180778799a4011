"""predict.images: real encoded images in, upright RGB uint8 out, typed errors otherwise."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from predict.errors import EmptyImageError, ImageDecodeError, PayloadTooLargeError
from predict.images import decode_image
from tests.functions.predict.support import encode


def _gradient(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 6, y * 10, (x + y) * 3], axis=-1).astype(np.uint8)


def test_decodes_real_jpeg_photos(bus_jpeg: bytes, zidane_jpeg: bytes) -> None:
    bus, zidane = decode_image(bus_jpeg), decode_image(zidane_jpeg)
    assert bus.shape == (1080, 810, 3)
    assert zidane.shape == (720, 1280, 3)
    assert bus.dtype == zidane.dtype == np.uint8
    assert bus.flags["C_CONTIGUOUS"] and bus.flags["WRITEABLE"]


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP"])
def test_lossless_formats_round_trip_exactly(fmt: str) -> None:
    image = _gradient()
    params = {"lossless": True} if fmt == "WEBP" else {}
    np.testing.assert_array_equal(decode_image(encode(image, fmt, **params)), image)


def test_exif_orientation_is_applied() -> None:
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:5, :5] = 255  # white block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "JPEG", exif=exif, quality=95)
    upright = decode_image(buffer.getvalue())
    assert upright.shape == (40, 20, 3)
    assert upright[:5, -5:].mean() > 200  # now at the top-right
    assert upright[:5, :5].mean() < 50


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK"])
def test_other_modes_become_rgb(mode: str) -> None:
    source = Image.fromarray(_gradient()).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(_save(source, fmt))
    assert decoded.shape == (24, 40, 3)
    assert decoded.dtype == np.uint8
    if mode in ("L", "LA", "1"):
        assert (decoded[..., 0] == decoded[..., 1]).all()
    if mode in ("P", "RGBA"):
        np.testing.assert_array_equal(decoded, np.asarray(source.convert("RGB")))


def _save(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_sixteen_bit_grayscale_keeps_the_top_eight_bits() -> None:
    values = (np.arange(24 * 40, dtype=np.uint16).reshape(24, 40) * 68).astype(np.uint16)
    png = _save(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I")
    decoded = decode_image(png)
    np.testing.assert_array_equal(decoded[..., 0], (values >> 8).astype(np.uint8))
    assert (decoded[..., 0] == decoded[..., 2]).all()


def test_empty_bytes() -> None:
    with pytest.raises(EmptyImageError):
        decode_image(b"")


@pytest.mark.parametrize(
    "data",
    [b"hello, not an image", b'{"image": "nope"}', bytes(range(256)) * 4, b"GIF89a" + bytes(64)],
    ids=["text", "json", "binary", "gif-header"],
)
def test_non_images(data: bytes) -> None:
    with pytest.raises(ImageDecodeError, match="not a JPEG, PNG, WebP or BMP"):
        decode_image(data)


def test_gif_is_not_accepted() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(_save(Image.fromarray(_gradient()), "GIF"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_images(bus_jpeg: bytes, fmt: str) -> None:
    data = bus_jpeg if fmt == "JPEG" else encode(decode_image(bus_jpeg)[:200], "PNG")
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) // 2])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (a decompression bomb's signature)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(8000, 6000), (100_000, 100_000)])
def test_decompression_bombs_are_refused_before_decoding(width: int, height: int) -> None:
    with pytest.raises(PayloadTooLargeError, match="pixels"):
        decode_image(_png_header_only(width, height))


def test_pixel_limit_is_configurable(bus_jpeg: bytes) -> None:
    with pytest.raises(PayloadTooLargeError, match="810x1080"):
        decode_image(bus_jpeg, max_pixels=810 * 1080 - 1)
    assert decode_image(bus_jpeg, max_pixels=810 * 1080).shape == (1080, 810, 3)
