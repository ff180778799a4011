"""``python -m release``: promote, rollback, status and history of the serving alias, and
the canary (``canary start|status|promote|abort``)."""

from collections.abc import Callable
from typing import Annotated

import typer

from predict.manifest import ModelManifest
from release.alias import ModelAlias
from release.canary import Canary
from release.errors import ReleaseError
from release.settings import DeploymentSettings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
canary_app = typer.Typer(
    help="A candidate version answers a share of requests before promotion.",
    no_args_is_help=True,
)
app.add_typer(canary_app, name="canary")


def _alias() -> ModelAlias:
    return ModelAlias(DeploymentSettings())


def _run(action) -> None:
    try:
        action()
    except ReleaseError as error:
        typer.secho(f"refused: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


def _move_alias(move: Callable[[ModelAlias], ModelManifest]) -> None:
    """Run a promotion or rollback and print the alias change; a refusal exits with 2."""

    def action() -> None:
        alias = _alias()
        before = alias.current()
        manifest = move(alias)
        typer.echo(f"{alias.settings.alias_parameter}: {before} -> {manifest.version}")

    _run(action)


@app.command()
def promote(version: Annotated[str, typer.Argument(help="registered model version")]) -> None:
    """Serve VERSION: check it is published in S3, then flip the SSM and MLflow aliases."""
    _move_alias(lambda alias: alias.promote(version))


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option(help="version to serve (default: the previous)")] = None,
) -> None:
    """Serve the previous alias value from SSM's history, or the version given with --to."""
    _move_alias(lambda alias: alias.rollback(to))


@app.command()
def status() -> None:
    """Show the version that serves and the MLflow champion."""

    def action() -> None:
        alias = _alias()
        version = alias.current()
        typer.echo(f"alias parameter : {alias.settings.alias_parameter} = {version}")
        typer.echo(f"mlflow champion : {alias.champion.get()}")
        typer.echo(f"canary          : {_describe(Canary(alias).status().route)}")
        if version != "none":
            manifest = alias.published_manifest(version)
            typer.echo(f"sha256          : {manifest.sha256}")
            typer.echo(f"metrics         : {manifest.metrics}")

    _run(action)


@app.command()
def history() -> None:
    """List every write of the alias parameter with when and by whom."""

    def action() -> None:
        for change in _alias().history():
            typer.echo(
                f"{change.parameter_version:>4}  {change.modified_at:%Y-%m-%d %H:%M:%S}  "
                f"{change.model_version:>8}  {change.modified_by}"
            )

    _run(action)


def _describe(route) -> str:
    if route is None:
        return "none"
    return f"version {route.version} answers {route.percent:g} % of requests"


@canary_app.command("start")
def canary_start(
    version: Annotated[str, typer.Argument(help="registered model version")],
    percent: Annotated[
        float, typer.Option(help="share of requests the candidate answers, in (0, 100]")
    ] = 10.0,
) -> None:
    """VERSION answers PERCENT % of requests (again with the same VERSION: a new share).

    Checks VERSION is published, then writes the SSM candidate parameter and the MLflow
    candidate alias.
    """

    def action() -> None:
        canary = Canary(_alias())
        route = canary.start(version, percent)
        typer.echo(f"{canary.settings.candidate_parameter}: {route.to_parameter()}")
        typer.echo(f"canary: {_describe(route)}")

    _run(action)


@canary_app.command("status")
def canary_status() -> None:
    """Show the champion, the candidate and its share."""

    def action() -> None:
        status = Canary(_alias()).status()
        typer.echo(f"champion          : {status.champion}")
        typer.echo(f"canary            : {_describe(status.route)}")
        typer.echo(f"mlflow champion   : {status.registered_champion}")
        typer.echo(f"mlflow candidate  : {status.registered_candidate}")

    _run(action)


@canary_app.command("promote")
def canary_promote() -> None:
    """The candidate becomes the champion (SSM alias and MLflow champion); the canary ends."""

    def action() -> None:
        alias = _alias()
        before = alias.current()
        route = Canary(alias).promote()
        typer.echo(f"{alias.settings.alias_parameter}: {before} -> {route.version}")
        typer.echo("canary: none")

    _run(action)


@canary_app.command("abort")
def canary_abort() -> None:
    """End the canary: the champion answers every request again."""

    def action() -> None:
        canary = Canary(_alias())
        version = canary.abort()
        typer.echo(f"{canary.settings.candidate_parameter}: none (was version {version})")

    _run(action)
