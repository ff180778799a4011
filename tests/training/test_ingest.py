"""COCO128 ingest through a local HTTP server: the real download path, only the URL differs.

The archive is built here in COCO128's layout (``coco128/images/train2017/*.jpg``,
``coco128/labels/train2017/*.txt``) from the synthetic generator's real JPEGs.
"""

import hashlib
import http.server
import importlib.util
import logging
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from tests.training.support import closed_port_endpoint
from training.config import DataConfig
from training.data.download import ChecksumMismatchError
from training.data.errors import DatasetError
from training.data.ingest import COCO128_URL, ingest_coco128, ingest_synthetic
from training.data.synthetic import SyntheticSpec
from training.data.validation import validate_dataset
from training.datasets import dataset_dir, ensure_dataset
from training.settings import TrainingSettings

N_IMAGES = 16


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        if self.path == "/short.zip":  # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"PK\x03\x04 only a few bytes")
            return
        super().do_GET()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (127.0.0.1, free port, own thread) and the folder it serves."""
    root = tmp_path_factory.mktemp("www")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticSpec(seed=21, n_train=N_IMAGES, n_val=1, n_test=1)
    return ingest_synthetic(spec, tmp_path_factory.mktemp("src") / "ds")


def _zip(path: Path, entries: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def coco_like(served: tuple[str, Path], source: Path) -> tuple[str, str]:
    """URL and sha256 of a zip laid out like COCO128's, one background image included."""
    base, root = served
    entries = {}
    for image in sorted((source / "images" / "train").glob("*.jpg")):
        entries[f"coco128/images/train2017/{image.name}"] = image.read_bytes()
        if image.stem != "train_00003":
            label = source / "labels" / "train" / f"{image.stem}.txt"
            entries[f"coco128/labels/train2017/{image.stem}.txt"] = label.read_bytes()
    entries["coco128/LICENSE"] = b"test archive"
    return f"{base}/coco128.zip", _zip(root / "coco128.zip", entries)


def test_good_checksum_gives_a_valid_split_dataset(
    coco_like: tuple[str, str], source: Path, tmp_path: Path
) -> None:
    url, sha256 = coco_like
    out = ingest_coco128(tmp_path / "coco", url=url, sha256=sha256, seed=0)

    counts = {s: len(list((out / "images" / s).glob("*.jpg"))) for s in ("train", "val", "test")}
    assert counts == {"train": 12, "val": 2, "test": 2}
    for image in (out / "images").rglob("*.jpg"):
        assert image.read_bytes() == (source / "images" / "train" / image.name).read_bytes()
        label = out / "labels" / image.parent.name / f"{image.stem}.txt"
        original = source / "labels" / "train" / f"{image.stem}.txt"
        expected = b"" if image.stem == "train_00003" else original.read_bytes()
        assert label.read_bytes() == expected
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    assert len(names) == 80 and names[0] == "person"
    summary = validate_dataset(out)
    assert sum(s.backgrounds for s in summary.splits.values()) == 1
    assert not list(tmp_path.glob(".*")), "staging folders are left behind"


def test_without_a_checksum_the_computed_one_is_logged(
    coco_like: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, sha256 = coco_like
    with caplog.at_level(logging.WARNING, logger="training.data.download"):
        ingest_coco128(tmp_path / "coco", url=url)
    assert f"no sha256 configured for {url}; downloaded file has sha256 {sha256}" in caplog.text


def test_bad_checksum_names_both_hashes_and_leaves_nothing(
    coco_like: tuple[str, str], tmp_path: Path
) -> None:
    url, sha256 = coco_like
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as raised:
        ingest_coco128(tmp_path / "coco", url=url, sha256=wrong)
    assert f"expected {wrong}, downloaded file has {sha256}" in str(raised.value)
    assert url in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "entries",
    [
        {"images/train2017/a.jpg": b"x", "labels/train2017/a.txt": b""},  # no coco128/ root
        {"coco128/images/train2017/a.jpg": b"x"},  # no labels
        {"coco128/README.txt": b"nothing here"},
    ],
)
def test_bad_layout_is_a_dataset_error(
    served: tuple[str, Path], tmp_path: Path, entries: dict[str, bytes]
) -> None:
    base, root = served
    name = f"layout-{hashlib.md5(repr(entries).encode()).hexdigest()[:8]}.zip"
    sha256 = _zip(root / name, entries)
    with pytest.raises(DatasetError, match="does not have COCO128's layout"):
        ingest_coco128(tmp_path / "coco", url=f"{base}/{name}", sha256=sha256)
    assert not (tmp_path / "coco").exists()


def test_not_a_zip_is_a_dataset_error(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    (root / "page.zip").write_text("<html>not found</html>")
    with pytest.raises(DatasetError, match="is not a zip archive"):
        ingest_coco128(tmp_path / "coco", url=f"{base}/page.zip")


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/missing.zip", "HTTP Error 404"), ("/short.zip", "got 21 of 1000 bytes")],
)
def test_failed_downloads_are_dataset_errors(
    served: tuple[str, Path], tmp_path: Path, path: str, reason: str
) -> None:
    base, _ = served
    with pytest.raises(DatasetError, match=f"cannot download {base}{path}: {reason}"):
        ingest_coco128(tmp_path / "coco", url=f"{base}{path}")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_url_is_a_dataset_error(tmp_path: Path) -> None:
    url = f"{closed_port_endpoint()}/coco128.zip"
    with pytest.raises(DatasetError, match=f"cannot download {url}: .*refused"):
        ingest_coco128(tmp_path / "coco", url=url)


def test_config_url_and_checksum_reach_the_download(
    coco_like: tuple[str, str], tmp_path: Path
) -> None:
    url, sha256 = coco_like
    settings = TrainingSettings(dvc_root=tmp_path)
    data = DataConfig(source="coco128", url=url, sha256=sha256, split_seed=3)
    out = ensure_dataset(data, settings)
    assert out == dataset_dir(data, settings)
    assert out.parent == tmp_path / "data"
    assert out.name.startswith("coco128-") and out.name.endswith("-split3")
    with pytest.raises(ChecksumMismatchError):
        ensure_dataset(data.model_copy(update={"sha256": "f" * 64, "split_seed": 4}), settings)


def test_default_url_is_the_one_ultralytics_publishes() -> None:
    spec = importlib.util.find_spec("ultralytics")  # found, not imported (that takes seconds)
    assert spec is not None and spec.origin is not None
    cfg = Path(spec.origin).parent / "cfg" / "datasets" / "coco128.yaml"
    assert yaml.safe_load(cfg.read_text())["download"] == COCO128_URL
    assert DataConfig(source="coco128").url == COCO128_URL
    assert DataConfig(source="coco128").sha256 is None
    with pytest.raises(ValueError, match="sha256"):
        DataConfig(source="coco128", sha256="not-a-digest")
