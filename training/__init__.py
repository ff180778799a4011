"""The training job, a ZenML pipeline: ingest -> tune -> train -> evaluate -> export -> register.

Entry points: ``python -m training --help`` for people, :func:`training.run.run_pipeline`
for code (the demo, the tests).
"""
