"""The serving alias: an SSM parameter whose value is the registered model version that serves.

Promotion and rollback validate the target version in S3 first, then write the MLflow
``champion`` alias and the SSM parameter. Every release (these, and the canary's in
:mod:`release.canary`) writes through :meth:`ModelAlias.change`: it reads all four
values first (:class:`ReleaseState`), and if any write fails puts every one back, so a
failed release never changes what serves.
"""

import contextlib
import json
from dataclasses import dataclass, replace
from datetime import datetime

from botocore.exceptions import ClientError
from pydantic import ValidationError

from predict.canary import NO_VERSION, CanaryRoute
from predict.manifest import ModelManifest, manifest_key, onnx_key
from release.errors import (
    AliasUpdateFailed,
    InvalidCandidateValue,
    InvalidManifest,
    NoPreviousVersion,
    VersionNotPublished,
)
from release.registry import RegistryAlias
from release.settings import DeploymentSettings

NO_MODEL = NO_VERSION  # the alias value before any promotion (see template.yaml)


@dataclass(frozen=True)
class AliasChange:
    """One write of the alias parameter, from SSM's parameter history."""

    parameter_version: int
    model_version: str
    modified_at: datetime
    modified_by: str


@dataclass(frozen=True)
class ReleaseState:
    """Every value a release writes, read together so a failed release can restore them.

    Attributes:
        serving: the SSM alias value (``"none"`` before the first promotion).
        champion: the MLflow ``champion`` alias, None when unset.
        candidate: the SSM candidate parameter's raw value (``"none"`` or a
            :class:`~predict.canary.CanaryRoute` as JSON); None when the stack has no
            such parameter (deployed before canaries existed).
        registered_candidate: the MLflow ``candidate`` alias, None when unset.
    """

    serving: str
    champion: str | None
    candidate: str | None
    registered_candidate: str | None

    def route(self) -> CanaryRoute | None:
        """The canary the candidate parameter describes; None when none runs.

        Raises:
            InvalidCandidateValue: the value is neither ``"none"`` nor a canary route.
        """
        if self.candidate is None:
            return None
        try:
            return CanaryRoute.from_parameter(self.candidate)
        except ValueError as error:
            raise InvalidCandidateValue(
                f"the candidate parameter is malformed ({error}); 'canary abort' resets it"
            ) from error

    def route_version(self) -> str | None:
        """The candidate's version; None when no canary runs or the value is malformed."""
        with contextlib.suppress(InvalidCandidateValue):
            route = self.route()
            return route.version if route else None
        return None

    def without_canary(self) -> "ReleaseState":
        """This state with the candidate parameter (if the stack has it) and the MLflow
        ``candidate`` alias cleared."""
        candidate = None if self.candidate is None else NO_VERSION
        return replace(self, candidate=candidate, registered_candidate=None)


class ModelAlias:
    """Reads and moves the serving alias of one registered model.

    Example:
        >>> alias = ModelAlias(DeploymentSettings())
        >>> alias.promote("2")   # validates models/detector/2/ in S3, then flips SSM
        >>> alias.rollback()     # back to the value before the current one
    """

    def __init__(self, settings: DeploymentSettings):
        self.settings = settings
        self._ssm = settings.client("ssm")
        self._s3 = settings.client("s3")
        self.champion = RegistryAlias(settings, settings.champion_alias)
        self.candidate = RegistryAlias(settings, settings.candidate_alias)

    def current(self) -> str:
        """The version the alias names now (``"none"`` before the first promotion)."""
        return self._get(self.settings.alias_parameter)

    def state(self) -> ReleaseState:
        """The SSM parameters and MLflow aliases as they are now."""
        try:
            candidate: str | None = self._get(self.settings.candidate_parameter)
        except self._ssm.exceptions.ParameterNotFound:
            candidate = None
        return ReleaseState(
            serving=self.current(),
            champion=self.champion.get(),
            candidate=candidate,
            registered_candidate=self.candidate.get(),
        )

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
        Promoting the canary's candidate this way also ends the canary.

        Raises:
            VersionNotPublished, InvalidManifest: the version is not servable; nothing changed.
            AliasUpdateFailed: a write failed; every alias was restored.
        """
        manifest = self.published_manifest(version)
        before = self.state()
        after = replace(before, serving=version, champion=version)
        if version in (before.registered_candidate, before.route_version()):
            after = after.without_canary()
        self.change(after, f"promotion of version {version!r}")
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

    def change(self, target: ReleaseState, what: str) -> None:
        """Write every value of ``target`` that differs from now: MLflow first, then the
        serving alias, then the candidate parameter (the function never sees a candidate
        that is neither the old nor the new one). Any failure puts every value back.

        Raises:
            AliasUpdateFailed: a write failed; all four values are as they were.
        """
        before = self.state()
        try:
            self._write(target, before)
        except Exception as error:
            self._write(before, self.state())
            raise AliasUpdateFailed(f"{what} failed, every alias restored: {error}") from error

    def _write(self, target: ReleaseState, now: ReleaseState) -> None:
        if target.champion != now.champion:
            self.champion.restore(target.champion)
        if target.registered_candidate != now.registered_candidate:
            self.candidate.restore(target.registered_candidate)
        if target.serving != now.serving:
            self._put(self.settings.alias_parameter, target.serving)
        if target.candidate is not None and target.candidate != now.candidate:
            self._put(self.settings.candidate_parameter, target.candidate)

    def _get(self, name: str) -> str:
        return self._ssm.get_parameter(Name=name)["Parameter"]["Value"]

    def _put(self, name: str, value: str) -> None:
        self._ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
