"""Where a model came from: code version, data version, library versions.

Logged as MLflow tags so a registered model version can be traced back to its inputs.
"""

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

import yaml

from training.settings import REPO_ROOT

# Files Ultralytics writes into a dataset folder while training (label caches); they are
# not data. Keep the same pattern in .dvcignore so `dvc add` agrees with this hash.
IGNORED_SUFFIXES = (".cache",)


def _md5_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def dvc_dir_md5(folder: Path) -> str:
    """The md5 DVC 3 gives a directory (``<md5>.dir``), computed without DVC.

    DVC hashes each file's bytes, lists ``{"md5", "relpath"}`` sorted by relpath, and hashes
    that list's JSON (``json.dumps(..., sort_keys=True)``).
    """
    entries = [
        {"md5": _md5_file(path), "relpath": path.relative_to(folder).as_posix()}
        for path in folder.rglob("*")
        if path.is_file() and not path.name.endswith(IGNORED_SUFFIXES)
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir"


def dvc_file(folder: Path) -> Path:
    """The ``.dvc`` file DVC writes beside a tracked folder: ``data/x`` -> ``data/x.dvc``."""
    return folder.with_name(folder.name + ".dvc")


def recorded_dvc_md5(folder: Path) -> str | None:
    """The md5 (``<md5>.dir``) in the folder's ``.dvc`` file; ``None`` if DVC does not track it."""
    path = dvc_file(folder)
    if not path.exists():
        return None
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    md5 = outs[0].get("md5")
    return str(md5) if md5 else None


def dvc_data_version(folder: Path) -> str:
    """The dataset's data version: the md5 in ``<folder>.dvc`` if DVC tracks it, else computed.

    ``training.datasets.prepare_dataset`` re-adds a folder whose content changed, so the two
    agree for every dataset it returned.
    """
    return recorded_dvc_md5(folder) or dvc_dir_md5(folder)


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def git_commit() -> str:
    """HEAD's commit; outside a git checkout (a container image) the commit it was built from
    (``DETECTOR_BUILD_COMMIT``); else ``"unknown"``."""
    from training.settings import TrainingSettings

    return _git("rev-parse", "HEAD") or TrainingSettings().build_commit or "unknown"


def git_dirty() -> bool:
    """Whether tracked or untracked (not ignored) files differ from HEAD."""
    status = _git("status", "--porcelain")
    return status is None or status != ""


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


def lineage_tags(dataset_dir: Path, config_hash: str) -> dict[str, str]:
    """All lineage tags for one training run."""
    return {
        "git_commit": git_commit(),
        "git_dirty": str(git_dirty()).lower(),
        "dvc_data_version": dvc_data_version(dataset_dir),
        "config_hash": config_hash,
        "python_version": platform.python_version(),
        "ultralytics_version": package_version("ultralytics"),
        "torch_version": package_version("torch"),
        "onnxruntime_version": package_version("onnxruntime"),
    }
