"""Fixtures shared by the whole suite: the host LocalStack."""

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCALSTACK_ENDPOINT = "http://127.0.0.1:4566"


def _localstack_healthy() -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{LOCALSTACK_ENDPOINT}/_localstack/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def localstack() -> Iterator[str]:
    """The gateway URL; starts LocalStack (and stops it afterwards) if it is not running."""
    started_here = not _localstack_healthy()
    if started_here:
        result = subprocess.run(
            [str(ROOT / "scripts" / "localstack.sh"), "start"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"scripts/localstack.sh start failed:\n{result.stdout}{result.stderr}")
    yield LOCALSTACK_ENDPOINT
    if started_here:
        subprocess.run([str(ROOT / "scripts" / "localstack.sh"), "stop"], timeout=120)


_DATA_BEFORE = pytest.StashKey[set[str]]()


def _repo_data_entries() -> set[str]:
    folder = ROOT / "data"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_DATA_BEFORE] = _repo_data_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests version datasets in throwaway DVC projects: the repository's data/ must not
    change (a test that forgot ``dvc_root`` would leave datasets there)."""
    added = _repo_data_entries() - session.config.stash.get(_DATA_BEFORE, set())
    if added:
        print(f"\nerror: tests wrote into {ROOT / 'data'}: {sorted(added)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
