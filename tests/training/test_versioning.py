"""DVC versioning against a moto S3 server, in a throwaway git + DVC project.

The project uses the repository's own ``.dvc/config`` (remote ``s3://detector-data/dvc``)
and ``.dvcignore``; only the endpoint comes from the settings.
"""

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.training.support import closed_port_endpoint, make_dvc_project
from training.config import DataConfig
from training.data.synthetic import SyntheticSpec
from training.data.versioning import DataVersioningError, DvcProject, RemoteUnreachableError
from training.datasets import PreparedDataset, dataset_dir, prepare_dataset, restore_dataset
from training.lineage import dvc_data_version, dvc_dir_md5, dvc_file, recorded_dvc_md5
from training.settings import TrainingSettings

SPEC = SyntheticSpec(seed=31, n_train=6, n_val=2, n_test=2)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dvc_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def settings(
    project: Path, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> TrainingSettings:
    return TrainingSettings(
        dvc_root=project, state_dir=tmp_path_factory.mktemp("state"), aws_endpoint_url=moto_endpoint
    )


@pytest.fixture(scope="module")
def prepared(settings: TrainingSettings) -> PreparedDataset:
    return prepare_dataset(DataConfig(synthetic=SPEC), settings)


def _sha256_tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _bucket_keys(settings: TrainingSettings) -> set[str]:
    pages = settings.client("s3").get_paginator("list_objects_v2").paginate(Bucket="detector-data")
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_the_dvc_file_dvc_wrote_holds_the_data_version(
    prepared: PreparedDataset, project: Path
) -> None:
    assert prepared.path == project / "data" / prepared.path.name
    assert dvc_file(prepared.path).exists()
    assert recorded_dvc_md5(prepared.path) == prepared.data_version
    assert dvc_dir_md5(prepared.path) == prepared.data_version
    assert dvc_data_version(prepared.path) == prepared.data_version
    assert f"/{prepared.path.name}" in (project / "data" / ".gitignore").read_text().splitlines()
    assert prepared.pushed and prepared.remote == "s3://detector-data/dvc"
    assert prepared.summary.splits["train"].images == 6


def test_every_file_and_the_dir_object_are_in_the_bucket(
    prepared: PreparedDataset, settings: TrainingSettings
) -> None:
    expected = {
        hashlib.md5(p.read_bytes()).hexdigest() for p in prepared.path.rglob("*") if p.is_file()
    }
    expected.add(prepared.data_version)
    keys = _bucket_keys(settings)
    assert {f"dvc/files/md5/{md5[:2]}/{md5[2:]}" for md5 in expected} <= keys


def test_second_call_neither_adds_nor_pushes(
    prepared: PreparedDataset, settings: TrainingSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("unchanged data was added or pushed again")

    monkeypatch.setattr(DvcProject, "add", refuse)
    monkeypatch.setattr(DvcProject, "push", refuse)
    before = dvc_file(prepared.path).stat().st_mtime_ns
    again = prepare_dataset(DataConfig(synthetic=SPEC), settings)
    assert again == prepared
    assert dvc_file(prepared.path).stat().st_mtime_ns == before


def test_ultralytics_label_caches_are_not_data_for_dvc_either(
    prepared: PreparedDataset, project: Path
) -> None:
    from dvc.repo import Repo

    cache = prepared.path / "labels" / "train.cache"
    cache.write_bytes(b"ultralytics label cache")
    try:
        assert dvc_dir_md5(prepared.path) == prepared.data_version
        with Repo(str(project)) as repo:
            assert repo.status([str(dvc_file(prepared.path))]) == {}
    finally:
        cache.unlink()


def test_pull_restores_the_dataset_byte_identical(
    prepared: PreparedDataset, settings: TrainingSettings, project: Path
) -> None:
    before = _sha256_tree(prepared.path)
    shutil.rmtree(prepared.path)
    shutil.rmtree(project / ".dvc" / "cache")

    restored = restore_dataset(prepared.path, settings)

    assert _sha256_tree(prepared.path) == before
    assert restored.data_version == prepared.data_version == dvc_dir_md5(prepared.path)
    assert restored.summary == prepared.summary


def test_changed_data_gets_the_new_version_dvc_writes(
    settings: TrainingSettings, tmp_path: Path
) -> None:
    source = Path(
        shutil.copytree(dataset_dir(DataConfig(synthetic=SPEC), settings), tmp_path / "s")
    )
    data = DataConfig(source="local", path=source)
    first = prepare_dataset(data, settings)
    label = first.path / "labels" / "val" / "val_00000.txt"
    label.write_text("0 0.5 0.5 0.25 0.25\n")

    second = prepare_dataset(data, settings)

    assert second.data_version != first.data_version
    assert recorded_dvc_md5(first.path) == second.data_version == dvc_dir_md5(first.path)
    assert DvcProject(settings).has_version(second.data_version)
    assert second.summary.splits["val"].instances != first.summary.splits["val"].instances


def test_with_pushing_off_the_version_is_the_same_md5_without_a_remote(
    settings: TrainingSettings, tmp_path: Path
) -> None:
    offline = settings.model_copy(
        update={"dvc_push": False, "aws_endpoint_url": closed_port_endpoint()}
    )
    prepared = prepare_dataset(DataConfig(synthetic=SPEC.model_copy(update={"seed": 32})), offline)
    assert not prepared.pushed
    assert recorded_dvc_md5(prepared.path) == prepared.data_version == dvc_dir_md5(prepared.path)
    assert not DvcProject(settings).has_version(prepared.data_version)


def test_unreachable_remote_fails_before_anything_is_ingested(settings: TrainingSettings) -> None:
    endpoint = closed_port_endpoint()
    down = settings.model_copy(update={"aws_endpoint_url": endpoint})
    data = DataConfig(synthetic=SPEC.model_copy(update={"seed": 33}))
    with pytest.raises(RemoteUnreachableError) as raised:
        prepare_dataset(data, down)
    message = str(raised.value)
    assert "s3://detector-data/dvc" in message and endpoint in message
    assert "DETECTOR_DVC_PUSH=false" in message
    assert not dataset_dir(data, down).exists()


def test_unreachable_remote_fails_a_restore(
    prepared: PreparedDataset, settings: TrainingSettings
) -> None:
    endpoint = closed_port_endpoint()
    down = settings.model_copy(update={"aws_endpoint_url": endpoint})
    with pytest.raises(RemoteUnreachableError, match=f"at endpoint {endpoint} is unreachable"):
        restore_dataset(prepared.path, down)


def test_restore_without_a_dvc_file_says_so(settings: TrainingSettings) -> None:
    folder = settings.datasets_dir / "never-added"
    with pytest.raises(DataVersioningError, match=r"never-added\.dvc does not exist"):
        restore_dataset(folder, settings)


def test_a_folder_without_dvc_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataVersioningError, match="is not a DVC project"):
        prepare_dataset(DataConfig(synthetic=SPEC), TrainingSettings(dvc_root=tmp_path))
