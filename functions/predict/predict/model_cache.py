"""The local model cache: verified ``model.onnx`` files in /tmp, kept within a byte budget.

Layout: ``<cache_dir>/<model_name>/<version>/model.onnx``. A file there always matches its
manifest's SHA-256: downloads go to a ``.part`` file that is renamed only once verified.
Lambda's /tmp is small (512 MB by default) and outlives versions, so before a download
the least recently used versions are evicted until the new one fits; the versions that
serve are never evicted, and a version that cannot fit is refused.

Example:
    >>> cache = ModelCache(Path("/tmp/models/detector"), budget_bytes=384 * 2**20)
    >>> path = cache.fetch(manifest, download=lambda target: s3.download_file(b, k, str(target)),
    ...                    keep={"2"})
"""

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Collection
from pathlib import Path

from predict.errors import CacheBudgetError, ChecksumMismatchError
from predict.manifest import ONNX_FILENAME, ModelManifest, sha256_file

logger = logging.getLogger(__name__)


class ModelCache:
    """Verified model files of one registered model, at most ``budget_bytes`` on disk.

    Args:
        root: the model's folder, ``<cache_dir>/<model_name>``.
        budget_bytes: most bytes all cached versions may take together.
    """

    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget_bytes = budget_bytes

    def path(self, version: str) -> Path:
        """Where a version's verified ``model.onnx`` lives."""
        return self.root / version / ONNX_FILENAME

    def usage(self) -> dict[str, int]:
        """Bytes on disk per cached version (partial downloads included)."""
        if not self.root.is_dir():
            return {}
        return {
            folder.name: sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            for folder in self.root.iterdir()
            if folder.is_dir()
        }

    def fetch(
        self,
        manifest: ModelManifest,
        download: Callable[[Path], None],
        keep: Collection[str] = (),
    ) -> Path:
        """The verified local ``model.onnx`` of ``manifest``, downloaded unless cached.

        Args:
            manifest: the version's manifest (``version``, ``sha256``, ``size_bytes``).
            download: writes the S3 object to the path it is given; its errors propagate
                (the partial file is removed).
            keep: versions that must not be evicted (those serving now).

        Raises:
            CacheBudgetError: the file is larger than the budget, or does not fit beside the
                versions in ``keep``; nothing was evicted or downloaded.
            ChecksumMismatchError: the download's SHA-256 differs from the manifest's.
        """
        target = self.path(manifest.version)
        if target.is_file() and sha256_file(target) == manifest.sha256:
            os.utime(target)  # most recently used
            return target
        self.make_room(manifest, keep)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{ONNX_FILENAME}.{os.getpid()}.part")
        try:
            download(partial)
            actual = sha256_file(partial)
            if actual != manifest.sha256:
                raise ChecksumMismatchError(
                    f"model.onnx of version {manifest.version!r} has sha256 {actual}, the "
                    f"manifest says {manifest.sha256}"
                )
        except BaseException:
            partial.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # only if empty: another process may write there
                target.parent.rmdir()
            raise
        partial.replace(target)  # atomic: a cached file is always a verified one
        return target

    def evict(self, version: str) -> None:
        """Remove a version's files (e.g. a verified file ONNX Runtime then refused)."""
        shutil.rmtree(self.root / version, ignore_errors=True)

    def make_room(self, manifest: ModelManifest, keep: Collection[str] = ()) -> None:
        """Evict least recently used versions (not ``manifest.version``, not ``keep``) until
        ``manifest.size_bytes`` more fit in the budget.

        Raises:
            CacheBudgetError: it cannot fit even with every evictable version gone; then
                nothing is evicted.
        """
        needed, budget, version = manifest.size_bytes, self.budget_bytes, manifest.version
        if needed > budget:
            raise CacheBudgetError(
                f"model.onnx of version {version!r} is {needed} bytes, more than the cache "
                f"budget of {budget} bytes (PREDICT_CACHE_BUDGET_BYTES)"
            )
        usage = self.usage()
        usage.pop(version, None)  # a stale or partial copy of it is replaced
        protected = {v: size for v, size in usage.items() if v in keep}
        if sum(protected.values()) + needed > budget:
            raise CacheBudgetError(
                f"model.onnx of version {version!r} ({needed} bytes) does not fit the cache "
                f"budget of {budget} bytes beside the versions serving, which are never "
                f"evicted: {dict(sorted(protected.items()))}"
            )
        evictable = sorted(set(usage) - set(protected), key=self._last_used)
        while sum(usage.values()) + needed > budget:
            evicted = evictable.pop(0)
            self.evict(evicted)
            logger.info(
                "evicted model version from the cache",
                extra={"model_version": evicted, "freed_bytes": usage.pop(evicted)},
            )

    def _last_used(self, version: str) -> float:
        folder = self.root / version
        times = [f.stat().st_mtime for f in folder.rglob("*") if f.is_file()]
        return max(times, default=0.0)
