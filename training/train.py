"""Train YOLO from a model YAML (from scratch) on the CPU with Ultralytics."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.config import TrainConfig
from training.settings import TrainingSettings
from training.ultralytics_env import import_ultralytics

EpochMetricsCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with ``(epoch starting at 1, metrics)``."""
BestMetricsCallback = Callable[[dict[str, float]], None]
"""Called once after training with the validation metrics of ``best.pt``."""


@dataclass(frozen=True)
class TrainedModel:
    """What a finished training leaves behind."""

    weights: Path
    """``best.pt`` (best validation fitness)."""
    save_dir: Path
    epochs_completed: int
    seconds: float


def mlflow_metric_name(name: str) -> str:
    """``metrics/mAP50(B)`` -> ``metrics/mAP50_B``: MLflow rejects parentheses."""
    return re.sub(r"\((\w+)\)", r"_\1", name)


def epoch_metrics(trainer) -> dict[str, float]:
    """Train losses, validation metrics and learning rates of the epoch that just ended."""
    metrics = dict(trainer.label_loss_items(trainer.tloss, prefix="train"))
    metrics.update(trainer.metrics or {})
    metrics.update(trainer.lr or {})
    return {mlflow_metric_name(k): float(v) for k, v in metrics.items()}


def _add_epoch_callbacks(
    model, on_epoch_end: EpochMetricsCallback, on_best: BestMetricsCallback | None
) -> None:
    """Ultralytics fires ``on_fit_epoch_end`` once per epoch, then once more after training
    for its final validation of ``best.pt``; only epochs follow an ``on_train_epoch_end``."""
    in_epoch = False

    def train_epoch_end(trainer) -> None:
        nonlocal in_epoch
        in_epoch = True

    def fit_epoch_end(trainer) -> None:
        nonlocal in_epoch
        if in_epoch:
            on_epoch_end(trainer.epoch + 1, epoch_metrics(trainer))
        elif on_best is not None:
            on_best({mlflow_metric_name(k): float(v) for k, v in (trainer.metrics or {}).items()})
        in_epoch = False

    model.add_callback("on_train_epoch_end", train_epoch_end)
    model.add_callback("on_fit_epoch_end", fit_epoch_end)


def ultralytics_train_args(config: TrainConfig, data_yaml: Path, run_dir: Path) -> dict:
    """The arguments of Ultralytics' ``train`` (``model.train(**args)`` or ``yolo train
    key=value ...``) for ``config.train``: from scratch, on the CPU, into ``run_dir``."""
    params = config.train
    return {
        "data": str(data_yaml),
        "epochs": params.epochs,
        "imgsz": params.imgsz,
        "batch": params.batch,
        "optimizer": params.optimizer,
        "lr0": params.lr0,
        "lrf": params.lrf,
        "momentum": params.momentum,
        "weight_decay": params.weight_decay,
        "warmup_epochs": params.warmup_epochs,
        "patience": params.patience,
        "close_mosaic": params.close_mosaic,
        "mosaic": params.mosaic,
        "fliplr": params.fliplr,
        "workers": params.workers,
        "seed": params.seed,
        "fraction": params.fraction,
        "pretrained": False,
        "amp": False,
        "device": "cpu",
        "plots": params.plots,
        "project": str(run_dir.parent),
        "name": run_dir.name,
        "exist_ok": True,
    }


def train_model(
    config: TrainConfig,
    data_yaml: Path,
    run_dir: Path,
    settings: TrainingSettings,
    on_epoch_end: EpochMetricsCallback | None = None,
    on_best: BestMetricsCallback | None = None,
) -> TrainedModel:
    """Train ``config.train.model`` on ``data_yaml``; Ultralytics writes into ``run_dir``."""
    import_ultralytics(settings)
    from ultralytics import YOLO

    params = config.train
    model = YOLO(params.model, task="detect")
    if on_epoch_end is not None:
        _add_epoch_callbacks(model, on_epoch_end, on_best)
    started = time.monotonic()
    model.train(**ultralytics_train_args(config, data_yaml, run_dir), verbose=False)
    trainer = model.trainer
    weights = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
    return TrainedModel(
        weights=weights,
        save_dir=Path(trainer.save_dir),
        epochs_completed=trainer.epoch + 1,
        seconds=time.monotonic() - started,
    )
