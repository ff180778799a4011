"""Export the trained model to ONNX; evaluate a model file (ONNX or PyTorch) on a held-out split."""

import shutil
from dataclasses import dataclass
from pathlib import Path

from training.config import TrainConfig
from training.settings import TrainingSettings
from training.ultralytics_env import import_ultralytics


@dataclass(frozen=True)
class ExportedModel:
    path: Path
    imgsz: tuple[int, int]
    """ONNX input (height, width)."""
    class_names: dict[int, str]
    dynamic: bool = False
    """Input height and width are dynamic (``imgsz`` is then the largest serving input)."""
    stride: int = 32


def export_onnx(
    weights: Path, config: TrainConfig, out_dir: Path, settings: TrainingSettings
) -> ExportedModel:
    """Export ``weights`` to ``out_dir/model.onnx``: input [1, 3, H, W] fixed to the export
    size, or with ``config.export.dynamic`` dynamic height and width (and batch)."""
    import_ultralytics(settings)
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    imgsz = config.export_imgsz
    exported = model.export(
        format="onnx",
        imgsz=list(imgsz),
        opset=config.export.opset,
        simplify=config.export.simplify,
        dynamic=config.export.dynamic,
        batch=1,
        device="cpu",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.onnx"
    shutil.copyfile(exported, target)
    names = {int(k): str(v) for k, v in model.names.items()}
    return ExportedModel(
        path=target,
        imgsz=(int(imgsz[0]), int(imgsz[1])),
        class_names=names,
        dynamic=config.export.dynamic,
        stride=int(model.model.stride.max()),
    )


def evaluate_model(
    model_path: Path,
    data_yaml: Path,
    config: TrainConfig,
    out_dir: Path,
    settings: TrainingSettings,
) -> dict[str, float]:
    """mAP50, mAP50-95, precision and recall of a model file on ``config.eval.split``.

    Runs Ultralytics' validator on the file itself: ONNX Runtime for a ``.onnx``, PyTorch
    for a ``.pt``, each image letterboxed as serving does: for a dynamic export padded only
    to the stride (``rect``) within the export size, for a fixed one to the exported input
    (ONNX) or to a square of its longer side (PyTorch: Ultralytics validates PyTorch at
    square sizes only; the scale is the same, only the padding may differ).
    """
    import_ultralytics(settings)
    from ultralytics import YOLO

    model = YOLO(str(model_path), task="detect")
    results = model.val(
        data=str(data_yaml),
        split=config.eval.split,
        imgsz=max(config.export_imgsz),
        rect=config.export.dynamic,
        conf=config.eval.conf,
        iou=config.eval.iou,
        batch=1,
        device="cpu",
        workers=0,
        plots=False,
        verbose=False,
        project=str(out_dir.parent),
        name=out_dir.name,
        exist_ok=True,
    )
    box = results.box
    return {
        "mAP50": float(box.map50),
        "mAP50-95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
    }
