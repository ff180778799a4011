"""The serving contract, imported from the Lambda's own package (``functions/predict``).

Under pytest ``functions/predict`` is on the path already; for ``python -m training`` this
module adds it, so the S3 layout and manifest schema are defined exactly once.
"""

import sys

from training.settings import REPO_ROOT

_PREDICT_SRC = str(REPO_ROOT / "functions" / "predict")
if _PREDICT_SRC not in sys.path:
    sys.path.append(_PREDICT_SRC)

from predict.manifest import ModelManifest, manifest_key, onnx_key  # noqa: E402

__all__ = ["ModelManifest", "manifest_key", "onnx_key"]
