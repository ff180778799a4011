"""Download one file over HTTP(S), atomically and with an optional sha256 check.

The file appears under its final name only once it is complete and (when a checksum is
given) verified; a failed or mismatching download leaves nothing behind.
"""

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from training.data.errors import DatasetError

log = logging.getLogger(__name__)

TIMEOUT_S = 60.0
"""Per socket operation (connect, each read), not for the whole download."""
CHUNK_BYTES = 1 << 20


class ChecksumMismatchError(DatasetError):
    """A downloaded file's sha256 is not the expected one."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(
            f"{url}: sha256 mismatch: expected {expected}, downloaded file has {actual} "
            "(the file was discarded)"
        )


def download_file(url: str, dest: Path, sha256: str | None = None) -> str:
    """Download ``url`` to ``dest`` and return the file's sha256 (lowercase hex).

    Args:
        url: ``http(s)://`` (or ``file://``) URL.
        dest: final path; its folder is created. Written via a temporary file beside it.
        sha256: expected digest; ``None`` skips the check and logs the computed value.

    Raises:
        DatasetError: the URL cannot be fetched (unreachable host, HTTP error, timeout)
            or the response is shorter than its ``Content-Length``.
        ChecksumMismatchError: ``sha256`` is given and differs; names both digests.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _fetch(url, out)
        if sha256 is not None and digest != sha256.lower():
            raise ChecksumMismatchError(url, sha256.lower(), digest)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    if sha256 is None:
        log.warning("no sha256 configured for %s; downloaded file has sha256 %s", url, digest)
    log.info("downloaded %s (%d bytes, sha256 %s)", url, size, digest)
    return digest


def _fetch(url: str, out) -> tuple[str, int]:
    """Stream ``url`` into ``out``; return its sha256 and size."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            expected_size = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK_BYTES):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except OSError as error:  # URLError, HTTPError, timeouts, refused connections
        raise DatasetError(f"cannot download {url}: {error}") from error
    if expected_size is not None and size != int(expected_size):
        raise DatasetError(f"cannot download {url}: got {size} of {expected_size} bytes")
    return hasher.hexdigest(), size
