"""predict.bodies: the JSON base64 body (the raw and multipart bodies are tested end to end
in test_handler.py)."""

import base64
import json

import pytest

from predict.bodies import decode_base64_body
from predict.errors import EmptyImageError, InvalidJsonBodyError

IMAGE = b"\xff\xd8\xff\xe0 not really a JPEG \xfb\xff"  # has bytes where urlsafe differs


def body(image) -> bytes:
    return json.dumps({"image": image}).encode()


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(IMAGE).decode(),
        base64.urlsafe_b64encode(IMAGE).decode(),
        base64.encodebytes(IMAGE * 10).decode(),  # MIME: line breaks every 76 characters
        "data:image/jpeg;base64," + base64.b64encode(IMAGE).decode(),
    ],
    ids=["standard", "urlsafe", "mime-lines", "data-url"],
)
def test_accepted_base64_forms(text: str) -> None:
    expected = IMAGE * 10 if "\n" in text else IMAGE
    assert decode_base64_body(body(text)) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"not json", "Invalid JSON"),
        (b"[1, 2]", "body"),
        (b'{"img": "AAAA"}', "image: Field required"),
        (body(1), "image: Input should be a valid string"),
        (body("!!!!"), "not valid base64"),
        (body("QUJD"[:3]), "not valid base64"),  # bad padding
        (body("data:image/jpeg,QUJD"), "without ';base64'"),
    ],
    ids=["not-json", "not-object", "no-image", "not-string", "alphabet", "padding", "data-url"],
)
def test_malformed_json_bodies(raw: bytes, match: str) -> None:
    with pytest.raises(InvalidJsonBodyError, match=match):
        decode_base64_body(raw)


def test_empty_image() -> None:
    with pytest.raises(EmptyImageError):
        decode_base64_body(body(""))
