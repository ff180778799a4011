"""Helpers for the data tests: a throwaway git + DVC project, an endpoint nothing answers at."""

import shutil
import socket
import subprocess
from pathlib import Path

from training.settings import REPO_ROOT


def make_dvc_project(root: Path) -> Path:
    """``git init`` + ``dvc init`` at ``root`` with this repository's DVC config and dvcignore.

    Tests version datasets here, never in the repository itself (whose ``data/`` they would
    dirty).
    """
    from dvc.repo import Repo

    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--quiet", str(root)], check=True)
    Repo.init(str(root)).close()
    shutil.copy(REPO_ROOT / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copy(REPO_ROOT / ".dvcignore", root / ".dvcignore")
    return root


def closed_port_endpoint() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
