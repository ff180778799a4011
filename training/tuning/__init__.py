"""Hyperparameter search with Optuna before the final training.

``configs/optuna.yaml`` defines the study; :func:`training.tuning.study.tune` runs one worker
on it and returns the best :class:`~training.config.TrainParams` values::

    from training.tuning.config import load_tuning_config
    from training.tuning.study import tune

    result = tune(config, dataset / "data.yaml", settings, load_tuning_config(config.tune.config))
    final = config.with_train_params(**result.best_params)

Modules: ``config`` (the study file; light, so a bad file fails fast), ``storage`` (RDB
storage, heartbeats, sampler, pruner), ``mlflow_runs`` (parent and nested trial runs,
plots), ``study`` (the worker loop).
"""
