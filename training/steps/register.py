"""Step 6: register the ONNX model in MLflow, publish it to S3, and promote it if the
quality gate lets it serve."""

import logging
from typing import Annotated

from botocore.exceptions import ClientError
from zenml import log_metadata, step

from release.alias import NO_MODEL, ModelAlias
from release.errors import ReleaseError
from training.artifacts import ExportedArtifact, RegistrationArtifact, TrainedArtifact
from training.gates import QUALITY_METRIC, ChampionScore, PromotionDecision, decide_promotion
from training.publish import build_manifest, publish_model
from training.settings import TrainingSettings
from training.tracking import log_onnx_and_register, resume_run

log = logging.getLogger(__name__)


class PromotionFailed(Exception):
    """The quality gate passed but the aliases could not be moved; both are as they were."""


def serving_champion(alias: ModelAlias) -> ChampionScore | None:
    """The version the SSM alias serves now and its published mAP50-95; None if none serves.

    Raises:
        PromotionFailed: the alias parameter cannot be read (e.g. the stack is not deployed),
            or the version it names has no valid published manifest to compare with.
    """
    try:
        version = alias.current()
    except ClientError as error:
        raise PromotionFailed(
            f"cannot read the alias parameter {alias.settings.alias_parameter!r} "
            f"({error.response['Error'].get('Code', error)}): deploy the stack first "
            "(make deploy), or run with promote=false"
        ) from error
    if version == NO_MODEL:
        return None
    try:
        metrics = alias.published_manifest(version).metrics
    except ReleaseError as error:
        raise PromotionFailed(f"cannot compare with the serving version: {error}") from error
    return ChampionScore(version=version, map50_95=metrics.get(QUALITY_METRIC, 0.0))


def champion_for_gate(alias: ModelAlias, promote: bool) -> ChampionScore | None:
    """:func:`serving_champion`; an unreadable alias only matters when promotion is due."""
    try:
        return serving_champion(alias)
    except PromotionFailed:
        if promote:
            raise
        log.warning("serving alias unreadable; quality gate without a champion", exc_info=True)
        return None


def _register_and_publish(
    settings: TrainingSettings, trained: TrainedArtifact, exported: ExportedArtifact
) -> tuple[str, str, str, str]:
    """Register the ONNX model (in the active run) and publish it; version, keys, sha256."""
    import mlflow

    name = settings.registered_model_name
    run_tags = mlflow.get_run(trained.run_id).data.tags
    lineage = {k: run_tags[k] for k in ("config_hash", "dvc_data_version", "git_commit")}
    version = log_onnx_and_register(exported.path, name, lineage)
    manifest = build_manifest(
        exported.path,
        name,
        version,
        exported.class_names,
        exported.imgsz,
        trained.run_id,
        exported.metrics,
        dynamic=exported.dynamic,
        stride=exported.stride,
    )
    (trained.run_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    onnx_key, manifest_key = publish_model(exported.path, manifest, settings)
    s3_uri = f"s3://{settings.models_bucket}/{onnx_key}"
    mlflow.set_tag("s3_uri", s3_uri)
    mlflow.MlflowClient().set_model_version_tag(name, version, "s3_uri", s3_uri)
    return version, onnx_key, manifest_key, manifest.sha256


def _promote(
    alias: ModelAlias, version: str, decision: PromotionDecision, wanted: bool
) -> tuple[bool, str]:
    """Move both aliases if the gate passed and the config asks for it; (promoted, reason)."""
    if not decision.promote:
        return False, f"not promoted: {decision.reason}"
    if not wanted:
        return (
            False,
            f"not promoted (promotion is off for this run); gate passed: {decision.reason}",
        )
    try:
        alias.promote(version)
    except ReleaseError as error:
        raise PromotionFailed(f"version {version} passed the gate but {error}") from error
    return True, f"promoted: {decision.reason}"


@step(enable_cache=False)
def register(
    settings: TrainingSettings,
    trained: TrainedArtifact,
    exported: ExportedArtifact,
    allow_promotion: bool,
) -> Annotated[RegistrationArtifact, "registration"]:
    """Register and publish the version, apply the quality gate, promote when it passes
    (and ``gates.promote`` and ``allow_promotion`` are both true).

    Raises:
        PromotionFailed: promotion was due but the alias parameter is unreadable or a write
            failed; the version stays registered and published, both aliases unchanged.
    """
    import mlflow

    gates = trained.config.gates
    promote = gates.promote and allow_promotion
    alias = ModelAlias(settings)
    with resume_run(settings, trained.run_id):
        version, onnx_key, manifest_key, sha256 = _register_and_publish(settings, trained, exported)
        client = mlflow.MlflowClient()
        try:
            champion = champion_for_gate(alias, promote)
            decision = decide_promotion(exported.metrics[QUALITY_METRIC], champion, gates)
            promoted, reason = _promote(alias, version, decision, promote)
        except PromotionFailed as error:
            mlflow.set_tag("gate.quality", f"promotion failed: {error}")
            client.set_model_version_tag(
                settings.registered_model_name, version, "promotion", str(error)
            )
            raise
        mlflow.set_tag("gate.quality", reason)
        client.set_model_version_tag(settings.registered_model_name, version, "promotion", reason)
    log.info("%s version %s: %s", settings.registered_model_name, version, reason)
    log_metadata({"version": version, "promoted": promoted, "decision": reason})
    return RegistrationArtifact(
        model_name=settings.registered_model_name,
        version=version,
        bucket=settings.models_bucket,
        onnx_key=onnx_key,
        manifest_key=manifest_key,
        sha256=sha256,
        promoted=promoted,
        decision=reason,
        champion_before=champion.version if champion else None,
    )
