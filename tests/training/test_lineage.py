"""Lineage tags: the dataset's DVC md5 and the code/library versions."""

from pathlib import Path

import pytest

from training.lineage import dvc_data_version, dvc_dir_md5, lineage_tags


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    (root / "images" / "train" / "a.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\r\n")
    (root / "data.yaml").write_text("names: [a]\n")
    return root


def test_matches_dvc_own_directory_hash(folder: Path) -> None:
    build = pytest.importorskip("dvc_data.hashfile.build").build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs import LocalFileSystem, MemoryFileSystem

    odb = HashFileDB(MemoryFileSystem(), "memory://odb")
    _, _, tree = build(odb, str(folder), LocalFileSystem(), "md5")
    assert dvc_dir_md5(folder) == tree.hash_info.value


def test_ultralytics_label_caches_do_not_change_the_version(folder: Path) -> None:
    before = dvc_dir_md5(folder)
    (folder / "labels" / "train.cache").write_bytes(b"cache")
    assert dvc_dir_md5(folder) == before
    (folder / "labels" / "b.txt").write_text("")
    assert dvc_dir_md5(folder) != before


def test_a_dvc_file_beside_the_folder_wins(folder: Path) -> None:
    folder.with_name("ds.dvc").write_text("outs:\n- md5: 0123abcd.dir\n  path: ds\n")
    assert dvc_data_version(folder) == "0123abcd.dir"


LINEAGE_TAGS = {
    "git_commit",
    "git_dirty",
    "dvc_data_version",
    "config_hash",
    "python_version",
    "ultralytics_version",
    "torch_version",
    "onnxruntime_version",
}
"""The tags the issue names: every training run carries them (tests/training/test_pipeline.py)."""


def test_lineage_tags(folder: Path) -> None:
    tags = lineage_tags(folder, "f" * 64)
    assert set(tags) == LINEAGE_TAGS
    assert tags["dvc_data_version"].endswith(".dir")
    assert tags["git_dirty"] in {"true", "false"}
    assert tags["python_version"].startswith("3.11")


def test_outside_git_the_commit_is_the_one_the_image_was_built_from(monkeypatch) -> None:
    from training import lineage

    monkeypatch.setattr(lineage, "_git", lambda *args: None)  # as in the container: no .git
    assert lineage.git_commit() == "unknown"
    monkeypatch.setenv("DETECTOR_BUILD_COMMIT", "0123abc")
    assert lineage.git_commit() == "0123abc"
