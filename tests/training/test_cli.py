"""``python -m training``: config errors exit with code 2 before anything trains."""

from pathlib import Path

from typer.testing import CliRunner

from training.cli import EXIT_CONFIG_ERROR, EXIT_PIPELINE_FAILED, app
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


def test_run_with_an_unreachable_bucket_fails_before_training(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: closed
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    overrides = ["data.synthetic.n_train=4", "data.synthetic.n_val=2", "data.synthetic.n_test=2"]
    result = runner.invoke(app, ["run", "-c", SMOKE, *overrides])
    assert result.exit_code == EXIT_PIPELINE_FAILED, result.output
    assert "models bucket 'detector-models' at http://127.0.0.1:9 is not reachable" in result.output
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "zenml").exists()


def test_ingest_synthetic_writes_a_dataset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(tmp_path))
    result = runner.invoke(
        app,
        ["ingest", "synthetic", "--seed", "5", "--n-train", "4", "--n-val", "2", "--n-test", "2"],
    )
    assert result.exit_code == 0, result.output
    out = Path(result.output.strip().splitlines()[-1])
    assert out.parent == tmp_path / "datasets"
    assert len(list((out / "images" / "test").glob("*.jpg"))) == 2


def test_ingest_coco128_offline_is_a_dataset_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("training.data.ingest.urllib.request.urlretrieve", offline)
    result = runner.invoke(app, ["ingest", "coco128"])
    assert result.exit_code == 3
    assert "cannot download" in result.output
