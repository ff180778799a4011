"""The main job, end to end on the embedded default (run by ``make demo`` after setup,
LocalStack start and deploy):

pipeline v1 (ingest, train, evaluate, export, register, promote by the quality gate) ->
pipeline v2 (promoted if not worse) -> predict through the deployed REST API -> roll back ->
predict again (served by v1).
"""

import argparse
import sys
from pathlib import Path

import ultralytics

from release.alias import ModelAlias
from release.api import PredictApi
from release.settings import DeploymentSettings
from release.stack import api_base_url
from training.config import load_config
from training.run import PipelineResult, run_pipeline
from training.settings import TrainingSettings

ASSETS = Path(ultralytics.__file__).parent / "assets"
PHOTOS = [ASSETS / "bus.jpg", ASSETS / "zidane.jpg"]
HELD_OUT_SHOWN = 3


def step(message: str) -> None:
    print(f"\n\033[1;32m=== {message}\033[0m", flush=True)


def show(image: Path, answer: dict, truth: int | None = None) -> None:
    found = ", ".join(
        f"{d['class_name']} {d['confidence']:.2f} [{', '.join(f'{v:.0f}' for v in d['box'])}]"
        for d in answer["detections"][:6]
    )
    expected = f" (labelled objects: {truth})" if truth is not None else ""
    print(
        f"  v{answer['model_version']}  {image.name} {answer['image_width']}x"
        f"{answer['image_height']}: {len(answer['detections'])} detections{expected}"
    )
    if found:
        print(f"      {found}")


def labelled_objects(image: Path) -> int:
    label = image.parent.parent.parent / "labels" / image.parent.name / f"{image.stem}.txt"
    return sum(1 for line in label.read_text().splitlines() if line.strip())


def predict_all(api: PredictApi, held_out: list[Path]) -> set[str]:
    """Predict on the photos and the held-out images; the versions that answered."""
    versions = set()
    for image in PHOTOS + held_out:
        answer = api.predict(image.read_bytes())
        versions.add(answer["model_version"])
        show(image, answer, labelled_objects(image) if image in held_out else None)
    return versions


def train(config: str) -> PipelineResult:
    step(f"pipeline {config}: ingest -> train -> evaluate -> export -> register -> promote?")
    result = run_pipeline(load_config(config))
    registration, parity = result.registration, result.exported.parity
    print(
        f"  registered {registration.model_name} version {registration.version} "
        f"in {result.trained.train_seconds:.0f} s of training; held-out metrics (ONNX): "
        + ", ".join(f"{k}={v:.3f}" for k, v in result.exported.metrics.items())
    )
    print(
        f"  parity with PyTorch: {parity.matched} detections, boxes within "
        f"{parity.max_box_diff_px:.2g} px, mAP50-95 {parity.onnx_map50_95:.3f} vs "
        f"{parity.pytorch_map50_95:.3f}"
    )
    print(f"  published s3://{registration.bucket}/{registration.onnx_key}")
    print(f"  quality gate: {registration.decision}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", default="configs/train_demo_v1.yaml")
    parser.add_argument("--second", default="configs/train_demo.yaml")
    args = parser.parse_args()

    deployment = DeploymentSettings()
    alias = ModelAlias(deployment)
    api = PredictApi(api_base_url(deployment))
    print(f"API (deployed to LocalStack): {api.base_url}")
    print(f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri {TrainingSettings().mlflow_db_uri}")

    first = train(args.first)
    if not first.registration.promoted:  # a better version from an earlier demo serves
        step(f"promote version {first.version} by hand, so that there is something to roll back")
        alias.promote(first.version)
    second = train(args.second)
    if not second.registration.promoted:
        raise SystemExit(
            f"version {second.version} was not promoted: {second.registration.decision}"
        )
    print(f"  API serves v{second.version} after {api.wait_for_version(second.version):.1f} s")

    held_out = second.dataset.images("test")[:HELD_OUT_SHOWN]
    step(f"predict through {api.base_url}/predict")
    predict_all(api, held_out)

    step(f"roll back (SSM alias {deployment.alias_parameter} to its previous value)")
    rolled_back = alias.rollback()
    waited = api.wait_for_version(rolled_back.version)
    print(f"  alias -> v{rolled_back.version}; API served it after {waited:.1f} s, no redeploy")
    served = predict_all(api, held_out[:1])
    if served != {first.version}:
        raise SystemExit(f"expected version {first.version} after rollback, API served {served}")

    step("summary: mAP on the held-out generated test split (ONNX model, Ultralytics val)")
    for result in (first, second):
        metrics = result.exported.metrics
        print(
            f"  v{result.version}: mAP50={metrics['mAP50']:.3f} mAP50-95={metrics['mAP50-95']:.3f}"
            f" ({result.trained.train_seconds:.0f} s training)"
        )
    print(f"  serving now: v{alias.current()}  (make promote VERSION={second.version} to restore)")


if __name__ == "__main__":
    sys.exit(main())
