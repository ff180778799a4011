"""``python -m training``: config errors exit 2, dataset errors 3, DVC remote errors 4."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.support import closed_port_endpoint, make_dvc_project
from training.cli import (
    EXIT_CONFIG_ERROR,
    EXIT_DATA_REMOTE_ERROR,
    EXIT_DATASET_ERROR,
    EXIT_PIPELINE_FAILED,
    app,
)
from training.lineage import dvc_dir_md5
from training.settings import REPO_ROOT

SMOKE = str(REPO_ROOT / "configs" / "train_smoke.yaml")
runner = CliRunner()


def test_show_config_applies_overrides() -> None:
    result = runner.invoke(app, ["show-config", "-c", SMOKE, "train.epochs=2"])
    assert result.exit_code == 0, result.output
    assert '"epochs": 2' in result.output
    assert "config_hash: " in result.output


def test_run_rejects_unknown_override_without_training() -> None:
    result = runner.invoke(app, ["run", "-c", SMOKE, "train.epoch=2"])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "train.epoch: Extra inputs are not permitted" in result.output


def test_run_rejects_missing_config(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == EXIT_CONFIG_ERROR


@pytest.fixture
def data_env(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway DVC project as ``DETECTOR_DVC_ROOT``, its remote on the moto server."""
    project = make_dvc_project(tmp_path / "project")
    monkeypatch.setenv("DETECTOR_DVC_ROOT", str(project))
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", moto_endpoint)
    return project


SMALL = ["--seed", "5", "--n-train", "4", "--n-val", "2", "--n-test", "2"]


def test_ingest_then_status_and_pull(data_env: Path) -> None:
    result = runner.invoke(app, ["ingest", "synthetic", *SMALL])
    assert result.exit_code == 0, result.output
    prepared = json.loads(result.stdout)
    path = Path(prepared["path"])
    assert path.parent == data_env / "data"
    assert len(list((path / "images" / "test").glob("*.jpg"))) == 2
    assert prepared["pushed"] is True
    assert prepared["data_version"] == dvc_dir_md5(path)

    status = runner.invoke(app, ["data", "status"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == [
        {
            "name": path.name,
            "data_version": prepared["data_version"],
            "workspace": "ok",
            "remote": "pushed",
        }
    ]

    shutil.rmtree(path)
    assert json.loads(runner.invoke(app, ["data", "status"]).stdout)[0]["workspace"] == "missing"
    pulled = runner.invoke(app, ["data", "pull", path.name])
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)[0]["data_version"] == prepared["data_version"]
    assert dvc_dir_md5(path) == prepared["data_version"]


def test_ingest_without_push_then_push(data_env: Path) -> None:
    result = runner.invoke(app, ["ingest", "synthetic", *SMALL, "--seed", "6", "--no-push"])
    assert result.exit_code == 0, result.output
    name = Path(json.loads(result.stdout)["path"]).name
    assert json.loads(runner.invoke(app, ["data", "status", name]).stdout)[0]["remote"] == (
        "not pushed"
    )

    pushed = runner.invoke(app, ["data", "push", str(data_env / "data" / f"{name}.dvc")])
    assert pushed.exit_code == 0, pushed.output
    status = runner.invoke(app, ["data", "status", str(data_env / "data" / name)])
    assert json.loads(status.stdout)[0]["remote"] == "pushed"


def test_unreachable_remote_exits_with_its_code(
    data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = closed_port_endpoint()
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", endpoint)
    for command in (["ingest", "synthetic", *SMALL], ["data", "status"], ["data", "pull"]):
        result = runner.invoke(app, command)
        assert result.exit_code == EXIT_DATA_REMOTE_ERROR, result.output
        assert f"DVC remote 'localstack' (s3://detector-data/dvc) at endpoint {endpoint}" in (
            result.output
        )


def test_ingest_coco128_unreachable_url_is_a_dataset_error(data_env: Path) -> None:
    url = f"{closed_port_endpoint()}/coco128.zip"
    result = runner.invoke(app, ["ingest", "coco128", "--url", url, "--no-push"])
    assert result.exit_code == EXIT_DATASET_ERROR
    assert f"cannot download {url}" in result.output


def test_ingest_rejects_a_malformed_checksum(data_env: Path) -> None:
    result = runner.invoke(app, ["ingest", "coco128", "--sha256", "abc"])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "sha256" in result.output


TINY_DATA = ["data.synthetic.n_train=4", "data.synthetic.n_val=2", "data.synthetic.n_test=2"]


def test_run_with_an_unreachable_remote_fails_before_training(
    data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = closed_port_endpoint()
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", endpoint)
    result = runner.invoke(app, ["run", "-c", SMOKE, *TINY_DATA])
    assert result.exit_code == EXIT_DATA_REMOTE_ERROR, result.output
    assert f"at endpoint {endpoint}" in result.output
    state = data_env.parent / "state"
    assert not (state / "runs").exists()
    assert not (state / "zenml").exists()


def test_run_with_an_unreachable_bucket_fails_before_training(
    data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = closed_port_endpoint()
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("DETECTOR_DVC_PUSH", "false")  # the dataset needs no remote then
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = runner.invoke(app, ["run", "-c", SMOKE, *TINY_DATA])
    assert result.exit_code == EXIT_PIPELINE_FAILED, result.output
    assert f"models bucket 'detector-models' at {endpoint} is not reachable" in result.output
    state = data_env.parent / "state"
    assert not (state / "runs").exists()
    assert not (state / "zenml").exists()


@pytest.fixture
def bad_dataset(tmp_path: Path) -> Path:
    """A local YOLO dataset with one corrupt image and one label row out of range."""
    from training.data.ingest import ingest_synthetic
    from training.data.synthetic import SyntheticSpec

    root = ingest_synthetic(SyntheticSpec(seed=12, n_train=4, n_val=2, n_test=2), tmp_path / "bad")
    (root / "images" / "train" / "train_00001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "labels" / "val" / "val_00000.txt").write_text("0 0.5 1.7 0.2 0.2\n")
    return root


def test_run_on_a_bad_dataset_names_the_files_before_training(
    data_env: Path, bad_dataset: Path
) -> None:
    overrides = ["data.source=local", f"data.path={bad_dataset}"]
    result = runner.invoke(app, ["run", "-c", SMOKE, *overrides])
    assert result.exit_code == EXIT_DATASET_ERROR, result.output
    assert "train_00001.jpg: unreadable image" in result.output
    assert "val_00000.txt:1: cy = 1.7 is outside [0, 1]" in result.output
    assert not (data_env.parent / "state" / "zenml").exists()


def test_run_with_a_bad_search_space_fails_before_training(data_env: Path, tmp_path: Path) -> None:
    study = tmp_path / "optuna.yaml"
    study.write_text("search_space:\n  lr0: {type: float, low: 0.1, high: 0.01}\n")
    overrides = [*TINY_DATA, "tune.enabled=true", f"tune.config={study}"]
    result = runner.invoke(app, ["run", "-c", SMOKE, *overrides])
    assert result.exit_code == EXIT_CONFIG_ERROR, result.output
    assert "search_space.lr0: low (0.1) is greater than high" in result.output
    assert not (data_env / "data").exists()
    assert not (data_env.parent / "state" / "zenml").exists()
