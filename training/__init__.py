"""The training job: ingest, train, export (ONNX), evaluate, register (MLflow), publish (S3).

Entry points: ``python -m training --help`` for people, :func:`training.pipeline.run_training`
for code (the demo, the tests).
"""
