"""ZenML pipelines (their steps are in :mod:`training.steps`)."""
