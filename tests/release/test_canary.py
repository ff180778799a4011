"""release.canary against moto SSM/S3 and a real sqlite MLflow registry (versions 1-3
registered; 1 and 2 published in S3)."""

import json

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from predict.canary import CanaryRoute
from release.alias import ReleaseState
from release.canary import Canary
from release.cli import app
from release.errors import (
    AliasUpdateFailed,
    CanaryRefused,
    InvalidCandidateValue,
    NoCanary,
    VersionNotPublished,
)
from tests.release.conftest import publish


@pytest.fixture
def canary(alias) -> Canary:
    alias.promote("1")
    return Canary(alias)


def candidate_value(aws, settings) -> dict | str:
    _, ssm = aws
    value = ssm.get_parameter(Name=settings.candidate_parameter)["Parameter"]["Value"]
    return value if value == "none" else json.loads(value)


def test_start_writes_the_candidate_parameter_and_the_mlflow_candidate(
    canary, aws, settings
) -> None:
    route = canary.start("2", percent=10)

    assert route == CanaryRoute(version="2", percent=10)
    assert candidate_value(aws, settings) == {"version": "2", "percent": 10.0}
    assert canary.alias.candidate.get() == "2"
    assert (canary.alias.current(), canary.alias.champion.get()) == ("1", "1")
    status = canary.status()
    assert (status.champion, status.route, status.registered_candidate) == ("1", route, "2")


def test_start_again_with_the_same_version_changes_its_share(canary, aws, settings) -> None:
    canary.start("2", percent=10)
    canary.start("2", percent=50)
    assert candidate_value(aws, settings) == {"version": "2", "percent": 50.0}


def test_promote_makes_the_candidate_the_champion_and_ends_the_canary(
    canary, aws, settings
) -> None:
    canary.start("2", percent=25)

    route = canary.promote()

    assert route.version == "2"
    assert (canary.alias.current(), canary.alias.champion.get()) == ("2", "2")
    assert candidate_value(aws, settings) == "none"
    assert canary.alias.candidate.get() is None
    assert [c.model_version for c in canary.alias.history()] == ["none", "1", "2"]
    assert canary.alias.previous_version() == "1", "a canary promotion rolls back like any"


def test_abort_leaves_the_champion_and_clears_the_candidate(canary, aws, settings) -> None:
    canary.start("2", percent=25)

    assert canary.abort() == "2"

    assert (canary.alias.current(), canary.alias.champion.get()) == ("1", "1")
    assert candidate_value(aws, settings) == "none"
    assert canary.alias.candidate.get() is None
    assert canary.status().route is None


def test_plain_promote_of_the_candidate_also_ends_the_canary(canary, aws, settings) -> None:
    canary.start("2", percent=25)
    canary.alias.promote("2")
    assert candidate_value(aws, settings) == "none"
    assert canary.alias.candidate.get() is None


def everything(canary: Canary) -> ReleaseState:
    return canary.alias.state()


@pytest.mark.parametrize(
    ("version", "percent", "error", "words"),
    [
        ("3", 10, VersionNotPublished, "'3'"),  # registered in MLflow, never uploaded
        ("1", 10, CanaryRefused, "already serves as the champion"),
        ("2", 0, CanaryRefused, "percent: Input should be greater than 0"),
        ("2", 150, CanaryRefused, "percent: Input should be less than or equal to 100"),
        ("none", 10, CanaryRefused, "'none' is not a model version"),
    ],
)
def test_start_is_refused_and_changes_nothing(
    canary, version: str, percent: float, error: type, words: str
) -> None:
    before = everything(canary)
    with pytest.raises(error, match=words):
        canary.start(version, percent)
    assert everything(canary) == before


def test_start_while_another_candidate_runs_is_refused(canary, aws, settings) -> None:
    s3, _ = aws
    publish(s3, settings, "3")
    canary.start("2", percent=10)
    before = everything(canary)
    with pytest.raises(CanaryRefused, match="a canary of version '2' runs"):
        canary.start("3", percent=10)
    assert everything(canary) == before


def test_start_before_any_promotion_is_refused(alias) -> None:
    with pytest.raises(CanaryRefused, match="no version serves yet"):
        Canary(alias).start("2", percent=10)
    assert alias.state() == ReleaseState("none", None, "none", None)


def test_start_on_a_stack_without_the_candidate_parameter_is_refused(canary, aws, settings):
    _, ssm = aws
    ssm.delete_parameter(Name=settings.candidate_parameter)
    with pytest.raises(CanaryRefused, match="does not exist: deploy the stack"):
        canary.start("2", percent=10)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=settings.candidate_parameter)
    assert canary.alias.candidate.get() is None
    canary.alias.promote("2")  # promotion works as before on such a stack
    assert canary.alias.current() == "2"


def test_promote_or_abort_without_a_canary_is_refused(canary) -> None:
    before = everything(canary)
    with pytest.raises(NoCanary, match="no canary runs"):
        canary.promote()
    with pytest.raises(NoCanary, match="no canary runs"):
        canary.abort()
    assert everything(canary) == before


def refuse_writes_of(canary: Canary, name: str, monkeypatch) -> None:
    """Make the release's SSM client refuse writes of one parameter (AccessDenied)."""
    ssm = canary.alias._ssm
    real = ssm.put_parameter

    def put(**kwargs):
        if kwargs["Name"] == name:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutParameter")
        return real(**kwargs)

    monkeypatch.setattr(ssm, "put_parameter", put)


def test_failed_candidate_parameter_write_restores_the_mlflow_candidate(
    canary, settings, monkeypatch
) -> None:
    before = everything(canary)
    refuse_writes_of(canary, settings.candidate_parameter, monkeypatch)
    with pytest.raises(AliasUpdateFailed, match="AccessDenied"):
        canary.start("2", percent=10)
    assert everything(canary) == before


def test_failed_mlflow_candidate_write_leaves_ssm_as_it_was(canary, aws, settings) -> None:
    s3, _ = aws
    publish(s3, settings, "7")  # in S3, but MLflow has no version 7
    before = everything(canary)
    with pytest.raises(AliasUpdateFailed, match="canary start of version '7' failed"):
        canary.start("7", percent=10)
    assert everything(canary) == before


@pytest.mark.parametrize("failing", ["alias", "candidate"])
def test_failed_write_during_canary_promotion_restores_all_four(
    canary, settings, monkeypatch, failing: str
) -> None:
    canary.start("2", percent=10)
    before = everything(canary)
    name = settings.alias_parameter if failing == "alias" else settings.candidate_parameter
    refuse_writes_of(canary, name, monkeypatch)

    with pytest.raises(AliasUpdateFailed, match="canary promotion of version '2' failed"):
        canary.promote()

    monkeypatch.undo()
    assert everything(canary) == before
    assert before == ReleaseState(
        "1", "1", CanaryRoute(version="2", percent=10).to_parameter(), "2"
    )


def test_failed_abort_restores_the_canary(canary, settings, monkeypatch) -> None:
    canary.start("2", percent=10)
    before = everything(canary)
    refuse_writes_of(canary, settings.candidate_parameter, monkeypatch)
    with pytest.raises(AliasUpdateFailed):
        canary.abort()
    monkeypatch.undo()
    assert everything(canary) == before


def test_malformed_candidate_parameter_is_reported_and_abort_resets_it(
    canary, aws, settings
) -> None:
    _, ssm = aws
    ssm.put_parameter(Name=settings.candidate_parameter, Value="2", Overwrite=True)
    with pytest.raises(InvalidCandidateValue, match="'canary abort' resets it"):
        canary.status()
    with pytest.raises(InvalidCandidateValue):
        canary.promote()
    canary.abort()
    assert candidate_value(aws, settings) == "none"


@pytest.fixture
def cli(alias, settings, monkeypatch) -> CliRunner:
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", "")
    monkeypatch.setenv("DETECTOR_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("DETECTOR_MODELS_BUCKET", settings.models_bucket)
    monkeypatch.setenv("DETECTOR_ALIAS_PARAMETER", settings.alias_parameter)
    monkeypatch.setenv("DETECTOR_CANDIDATE_PARAMETER", settings.candidate_parameter)
    return CliRunner()


def test_cli_canary_start_status_promote(cli, alias, settings) -> None:
    alias.promote("1")

    refused = cli.invoke(app, ["canary", "start", "3", "--percent", "10"])
    started = cli.invoke(app, ["canary", "start", "2", "--percent", "10"])
    status = cli.invoke(app, ["canary", "status"])
    overview = cli.invoke(app, ["status"])
    promoted = cli.invoke(app, ["canary", "promote"])
    again = cli.invoke(app, ["canary", "abort"])

    assert refused.exit_code == 2 and "not published" in refused.output
    assert started.exit_code == 0, started.output
    assert '{"version":"2","percent":10.0}' in started.output
    assert "version 2 answers 10 % of requests" in status.output
    assert "mlflow candidate  : 2" in status.output
    assert "canary          : version 2 answers 10 % of requests" in overview.output
    assert promoted.exit_code == 0, promoted.output
    assert f"{settings.alias_parameter}: 1 -> 2" in promoted.output
    assert again.exit_code == 2 and "no canary runs" in again.output
    assert alias.current() == "2"


def test_cli_canary_abort(cli, alias) -> None:
    alias.promote("1")
    cli.invoke(app, ["canary", "start", "2", "--percent", "50"])

    aborted = cli.invoke(app, ["canary", "abort"])

    assert aborted.exit_code == 0, aborted.output
    assert "none (was version 2)" in aborted.output
    assert Canary(alias).status().route is None
