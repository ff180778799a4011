import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from release.cli import app
from release.errors import (
    AliasUpdateFailed,
    InvalidManifest,
    NoPreviousVersion,
    VersionNotPublished,
)
from tests.release.conftest import publish


def test_promote_sets_ssm_and_mlflow_champion(alias):
    manifest = alias.promote("1")

    assert manifest.version == "1"
    assert alias.current() == "1"
    assert alias.champion.get() == "1"


def test_promote_of_unpublished_version_changes_nothing(alias):
    alias.promote("1")

    with pytest.raises(VersionNotPublished, match="'3'"):
        alias.promote("3")  # registered in MLflow, never uploaded to S3

    assert alias.current() == "1"
    assert alias.champion.get() == "1"


def test_promote_refuses_manifest_that_disagrees_with_model(alias, aws, settings):
    s3, _ = aws
    publish(s3, settings, "3")
    s3.put_object(Bucket=settings.models_bucket, Key="models/detector/3/model.onnx", Body=b"x")

    with pytest.raises(InvalidManifest, match="1 bytes"):
        alias.promote("3")
    assert alias.current() == "none"


def test_failed_mlflow_write_leaves_ssm_alias(alias, aws, settings):
    s3, _ = aws
    publish(s3, settings, "7")  # in S3, but MLflow has no version 7
    alias.promote("2")

    with pytest.raises(AliasUpdateFailed):
        alias.promote("7")

    assert alias.current() == "2"
    assert alias.champion.get() == "2"


def test_failed_ssm_write_restores_mlflow_champion(alias, monkeypatch):
    alias.promote("1")

    def refuse(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutParameter")

    monkeypatch.setattr(alias._ssm, "put_parameter", refuse)
    with pytest.raises(AliasUpdateFailed, match="AccessDenied"):
        alias.promote("2")

    assert alias.current() == "1"
    assert alias.champion.get() == "1"


def test_rollback_returns_to_previous_value_from_history(alias):
    alias.promote("1")
    alias.promote("2")

    manifest = alias.rollback()

    assert manifest.version == "1"
    assert alias.current() == "1"
    assert [change.model_version for change in alias.history()] == ["none", "1", "2", "1"]


def test_rollback_follows_a_raw_put_parameter(alias, aws, settings):
    _, ssm = aws
    alias.promote("1")
    ssm.put_parameter(Name=settings.alias_parameter, Value="2", Type="String", Overwrite=True)

    assert alias.rollback().version == "1"


def test_rollback_without_history_is_refused(alias):
    alias.promote("1")

    with pytest.raises(NoPreviousVersion):
        alias.rollback()
    assert alias.current() == "1"


def test_rollback_to_named_version(alias):
    alias.promote("2")

    assert alias.rollback(to="1").version == "1"
    assert alias.current() == "1"


def test_cli_refuses_missing_version_with_exit_code_2(alias, settings, monkeypatch):
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", "")
    monkeypatch.setenv("DETECTOR_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("DETECTOR_MODELS_BUCKET", settings.models_bucket)
    monkeypatch.setenv("DETECTOR_ALIAS_PARAMETER", settings.alias_parameter)
    runner = CliRunner()

    refused = runner.invoke(app, ["rollback", "--to", "9"])
    promoted = runner.invoke(app, ["promote", "2"])

    assert refused.exit_code == 2
    assert "not published" in refused.output
    assert promoted.exit_code == 0, promoted.output
    assert "none -> 2" in promoted.output
