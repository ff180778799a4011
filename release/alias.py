"""The serving alias: an SSM parameter whose value is the registered model version that serves.

Promotion and rollback validate the target version in S3 first, then move the MLflow
``champion`` alias and the SSM parameter together: if either write fails, both are put
back, so a failed release never changes what serves.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError
from pydantic import ValidationError

from predict.manifest import ModelManifest, manifest_key, onnx_key
from release.errors import (
    AliasUpdateFailed,
    InvalidManifest,
    NoPreviousVersion,
    VersionNotPublished,
)
from release.registry import ChampionAlias
from release.settings import DeploymentSettings

NO_MODEL = "none"  # the alias value before any promotion (see template.yaml)


@dataclass(frozen=True)
class AliasChange:
    """One write of the alias parameter, from SSM's parameter history."""

    parameter_version: int
    model_version: str
    modified_at: datetime
    modified_by: str


class ModelAlias:
    """Reads and moves the serving alias of one registered model.

    Example:
        >>> alias = ModelAlias(DeploymentSettings())
        >>> alias.promote("2")   # validates models/detector/2/ in S3, then flips SSM
        >>> alias.rollback()     # back to the value before the current one
    """

    def __init__(self, settings: DeploymentSettings, champion: ChampionAlias | None = None):
        self.settings = settings
        self._ssm = settings.client("ssm")
        self._s3 = settings.client("s3")
        self.champion = champion if champion is not None else ChampionAlias(settings)

    def current(self) -> str:
        """The version the alias names now (``"none"`` before the first promotion)."""
        response = self._ssm.get_parameter(Name=self.settings.alias_parameter)
        return response["Parameter"]["Value"]

    def history(self) -> list[AliasChange]:
        """Every write of the alias, oldest first (SSM keeps the last 100)."""
        paginator = self._ssm.get_paginator("get_parameter_history")
        changes = [
            AliasChange(
                parameter_version=entry["Version"],
                model_version=entry["Value"],
                modified_at=entry["LastModifiedDate"],
                modified_by=entry.get("LastModifiedUser", "unknown"),
            )
            for page in paginator.paginate(Name=self.settings.alias_parameter)
            for entry in page["Parameters"]
        ]
        return sorted(changes, key=lambda change: change.parameter_version)

    def published_manifest(self, version: str) -> ModelManifest:
        """The version's manifest, checked against its ``model.onnx`` in S3.

        Raises:
            VersionNotPublished: manifest.json or model.onnx is missing.
            InvalidManifest: the manifest does not parse, names another version, or its
                ``size_bytes`` differs from the ONNX object's size.
        """
        name, bucket = self.settings.registered_model_name, self.settings.models_bucket
        try:
            body = self._s3.get_object(Bucket=bucket, Key=manifest_key(name, version))["Body"]
            onnx_head = self._s3.head_object(Bucket=bucket, Key=onnx_key(name, version))
        except ClientError as error:
            raise VersionNotPublished(
                f"version {version!r} of {name!r} is not published in s3://{bucket}/"
                f" ({error.response['Error'].get('Code', error)})"
            ) from error
        try:
            manifest = ModelManifest.model_validate(json.loads(body.read()))
        except (ValueError, ValidationError) as error:
            raise InvalidManifest(f"manifest of version {version!r} is invalid: {error}") from error
        if manifest.version != version or manifest.size_bytes != onnx_head["ContentLength"]:
            raise InvalidManifest(
                f"manifest of version {version!r} names version {manifest.version!r} and "
                f"{manifest.size_bytes} bytes; model.onnx has {onnx_head['ContentLength']} bytes"
            )
        return manifest

    def promote(self, version: str) -> ModelManifest:
        """Make ``version`` serve: validate it in S3, then set the champion and SSM aliases.

        Raises:
            VersionNotPublished, InvalidManifest: the version is not servable; nothing changed.
            AliasUpdateFailed: a write failed; both aliases were restored.
        """
        manifest = self.published_manifest(version)
        previous = self.current()
        previous_champion = self.champion.get()
        try:
            self.champion.set(version)
            self._put(version)
        except Exception as error:
            self._restore(previous, previous_champion)
            raise AliasUpdateFailed(f"promotion of version {version!r} failed: {error}") from error
        return manifest

    def rollback(self, to: str | None = None) -> ModelManifest:
        """Point the alias at ``to``, or at the last value it held before the current one.

        Raises:
            NoPreviousVersion: ``to`` is None and the history has no earlier model version.
            VersionNotPublished, InvalidManifest, AliasUpdateFailed: as :meth:`promote`.
        """
        return self.promote(to if to is not None else self.previous_version())

    def previous_version(self) -> str:
        """The most recent alias value that differs from the current one (and is a model)."""
        current = self.current()
        for change in reversed(self.history()):
            if change.model_version not in (current, NO_MODEL):
                return change.model_version
        raise NoPreviousVersion(
            f"{self.settings.alias_parameter} has no earlier model version than {current!r}"
        )

    def _put(self, version: str) -> None:
        self._ssm.put_parameter(
            Name=self.settings.alias_parameter, Value=version, Type="String", Overwrite=True
        )

    def _restore(self, previous: str, previous_champion: str | None) -> None:
        if self.current() != previous:
            self._put(previous)
        self.champion.restore(previous_champion)
