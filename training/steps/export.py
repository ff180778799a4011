"""Step 5: ONNX export, its metrics, and the parity gate against the PyTorch weights."""

import json
from typing import Annotated

from zenml import log_metadata, step

from predict.detector import Detector
from training.artifacts import ExportedArtifact, ParityReport, TrainedArtifact
from training.datasets import PreparedDataset
from training.evaluate import evaluate_model, export_onnx
from training.gates import QUALITY_METRIC, ParityGateFailed, check_parity
from training.parity import compare_models
from training.settings import TrainingSettings
from training.tracking import resume_run

PARITY_SPLIT = "val"
"""The parity check compares detections on the validation images."""


@step(enable_cache=False)
def export(
    settings: TrainingSettings,
    dataset: PreparedDataset,
    trained: TrainedArtifact,
    pytorch_metrics: dict[str, float],
) -> Annotated[ExportedArtifact, "onnx_model"]:
    """Export ``best.pt`` to ONNX, evaluate the file, compare it with PyTorch.

    Raises:
        ParityGateFailed: the ONNX model answers differently beyond the config's tolerances;
            nothing is registered.
    """
    import mlflow

    config = trained.config
    exported = export_onnx(trained.weights, config, trained.run_dir / "export", settings)
    metrics = evaluate_model(
        exported.path, dataset.data_yaml, config, trained.run_dir / "eval", settings
    )
    detector = Detector(
        exported.path,
        exported.class_names,
        exported.imgsz,
        dynamic=exported.dynamic,
        stride=exported.stride,
    )
    stats = compare_models(trained.weights, detector, dataset.images(PARITY_SPLIT), settings)
    report = ParityReport(
        images=stats.images,
        matched=stats.matched,
        max_box_diff_px=stats.max_box_diff_px,
        max_conf_diff=stats.max_conf_diff,
        unmatched=stats.unmatched,
        onnx_map50_95=metrics[QUALITY_METRIC],
        pytorch_map50_95=pytorch_metrics[QUALITY_METRIC],
    )
    with resume_run(settings, trained.run_id):
        mlflow.log_param("export.input_hw", f"{exported.imgsz[0]}x{exported.imgsz[1]}")
        mlflow.log_metrics({f"{config.eval.split}_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics(
            {
                "parity_max_box_diff_px": report.max_box_diff_px,
                "parity_max_conf_diff": report.max_conf_diff,
                "parity_matched": report.matched,
                "parity_unmatched": len(report.unmatched),
                "parity_map50_95_diff": report.map_diff,
            }
        )
        mlflow.log_text(json.dumps(report.model_dump(), indent=2), "parity.json")
        try:
            check_parity(report, config.gates)
        except ParityGateFailed as error:
            mlflow.set_tag("gate.parity", str(error))
            raise
        mlflow.set_tag("gate.parity", "passed")
    log_metadata({**metrics, "parity_max_box_diff_px": report.max_box_diff_px}, infer_artifact=True)
    return ExportedArtifact(
        path=exported.path,
        imgsz=exported.imgsz,
        class_names=exported.class_names,
        dynamic=exported.dynamic,
        stride=exported.stride,
        metrics=metrics,
        parity=report,
    )
