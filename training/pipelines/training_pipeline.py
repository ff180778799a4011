"""The training job as a ZenML pipeline: ingest -> tune -> train -> evaluate -> export -> register.

Run it through :func:`training.run.run_pipeline` (or ``python -m training run``), which sets
up ZenML's local stack under the state dir first.
"""

from zenml import pipeline

from training.config import TrainConfig
from training.settings import TrainingSettings
from training.steps.evaluate import evaluate
from training.steps.export import export
from training.steps.ingest import ingest
from training.steps.register import register
from training.steps.train import train
from training.steps.tune import tune


@pipeline(enable_cache=False)
def training_pipeline(
    config: TrainConfig,
    settings: TrainingSettings,
    extra_tags: dict[str, str],
    allow_promotion: bool,
) -> None:
    """One model version from one config (see :func:`training.run.run_pipeline`)."""
    dataset = ingest(config.data, settings)
    tuning = tune(config, settings, dataset)
    trained = train(config, settings, dataset, tuning, extra_tags)
    pytorch_metrics = evaluate(settings, dataset, trained)
    exported = export(settings, dataset, trained, pytorch_metrics)
    register(settings, trained, exported, allow_promotion)
