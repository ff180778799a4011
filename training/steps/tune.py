"""Step 2: the Optuna study that picks the final training's parameters (when enabled)."""

from typing import Annotated

from zenml import log_metadata, step

from training.artifacts import TuningArtifact
from training.config import TrainConfig
from training.datasets import PreparedDataset
from training.settings import TrainingSettings


@step(enable_cache=False)
def tune(
    config: TrainConfig, settings: TrainingSettings, dataset: PreparedDataset
) -> Annotated[TuningArtifact, "tuning"]:
    """Run (or join) the study of ``config.tune.config``; its best parameters, or none when
    ``config.tune.enabled`` is false."""
    if not config.tune.enabled:
        return TuningArtifact(enabled=False)
    from training.tuning.config import load_tuning_config
    from training.tuning.study import tune as run_study

    result = run_study(config, dataset.data_yaml, settings, load_tuning_config(config.tune.config))
    log_metadata({"best_params": result.best_params, "best_value": result.best_value})
    return TuningArtifact(
        enabled=True,
        best_params=result.best_params,
        best_value=result.best_value,
        study_name=result.study_name,
        parent_run_id=result.parent_run_id,
    )
