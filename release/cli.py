"""``python -m release``: promote, rollback, status and history of the serving alias."""

from collections.abc import Callable
from typing import Annotated

import typer

from predict.manifest import ModelManifest
from release.alias import ModelAlias
from release.errors import ReleaseError
from release.settings import DeploymentSettings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


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
