"""The pipeline's steps, one module each: ingest, tune, train, evaluate, export, register.

Each is a ZenML step: a plain function with typed inputs and an annotated output that
ZenML stores as an artifact (:mod:`training.artifacts`). The work itself lives in the
modules of :mod:`training`; a step wires it to MLflow and ZenML.
"""
