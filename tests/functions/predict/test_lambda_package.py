"""The predict function as ``sam build`` packages it for Lambda: function plus runtime layer.

Built once per module into a temporary folder, as ``make deploy`` builds it: the layer
(every third-party package, trimmed and compiled) by ``layers/runtime/Makefile``, the
function's own code by SAM's Python builder, both for python3.12. Then the unzipped size is
checked against the budget, and the built code runs under the python3.12 runtime
environment (``.venv-lambda-py312``: what the managed runtime ships) with the function where
Lambda puts it (``/var/task``) and the layer as ``/opt/python``: the handler answers
``GET /health``, every accepted image format decodes, the detector answers exactly as in the
development environment, and every module loaded from the layer came with its bytecode.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from predict.detector import Detector
from predict.images import decode_image
from tests.functions.predict.support import ASSETS, CLASS_NAMES, SQUARE_IMGSZ, encode

REPO = Path(__file__).resolve().parents[3]
SAM = REPO / ".tools" / "bin" / "sam"
RUNTIME_PYTHON = REPO / ".venv-lambda-py312" / "bin" / "python"
SIZE_BUDGET_MIB = 120
"""Function plus layer, unzipped (Lambda's own limit is 250 MiB)."""
FORMATS = {"JPEG": {"quality": 95}, "PNG": {}, "WEBP": {"lossless": True}, "BMP": {}}

RUNTIME_SCRIPT = """
import importlib.util, json, sys
from pathlib import Path
import predict.handler  # the Lambda entry point: FastAPI, Mangum, Powertools, boto3
from predict.detector import Detector
from predict.images import decode_image
import numpy, onnxruntime, PIL

layer, model, health_event, *images = sys.argv[1:]
context = type("Context", (), {"aws_request_id": "test", "function_name": "PredictFunction",
    "memory_limit_in_mb": 1769, "invoked_function_arn": "arn:aws:lambda:::function:f",
    "get_remaining_time_in_millis": lambda self: 30000})()
health = predict.handler.handler(json.loads(Path(health_event).read_text()), context)
detector = Detector(model, {0: "circle", 1: "square", 2: "triangle"}, (320, 320))
out = {"python": sys.version.split()[0], "health": health["statusCode"]}
import fastapi
modules = (numpy, onnxruntime, PIL, fastapi, predict.handler)
out["modules"] = {m.__name__: m.__file__ for m in modules}
for path in images:
    rgb = decode_image(open(path, "rb").read())
    out[path] = [[d.class_id, d.confidence, *d.box] for d in detector.predict(rgb)]
loaded = [Path(m.__file__) for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
from_layer = [f for f in loaded if f.suffix == ".py" and f.is_relative_to(layer)]
out["from_layer"] = len(from_layer)
out["without_bytecode"] = sorted(
    str(f) for f in from_layer if not Path(importlib.util.cache_from_source(f)).is_file()
)
print(json.dumps(out))
"""


def _python312() -> Path | None:
    """A python3.12 with pip, as ``scripts/lib.sh find_python`` finds it."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(versions.glob("3.12*/bin/python3.12"))
    which = shutil.which("python3.12")
    return found[-1] if found else Path(which) if which else None


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sam build`` of template.yaml into a temporary folder (about 30 s on 2 cores)."""
    python312 = _python312()
    if not SAM.is_file() or python312 is None:
        pytest.skip("needs the SAM CLI in .tools/ and a python3.12 (make setup)")
    build_dir = tmp_path_factory.mktemp("sam_build")
    env = os.environ | {
        "PATH": f"{python312.parent}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }
    command = [str(SAM), "build", "--template-file", str(REPO / "template.yaml")]
    command += ["--build-dir", str(build_dir / "build"), "--cache-dir", str(build_dir / "cache")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"sam build failed:\n{done.stdout}\n{done.stderr}"
    return build_dir / "build"


def _size_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def test_function_and_layer_fit_the_size_budget(sam_build: Path) -> None:
    function = _size_bytes(sam_build / "PredictFunction")
    layer = _size_bytes(sam_build / "RuntimeLayer")
    print(f"unzipped: function {function / 2**20:.1f} MiB, layer {layer / 2**20:.1f} MiB")
    assert (sam_build / "RuntimeLayer" / "python" / "onnxruntime").is_dir()
    assert (function + layer) / 2**20 <= SIZE_BUDGET_MIB


def test_built_package_predicts_under_the_python312_runtime(
    sam_build: Path, onnx_models, tmp_path: Path
) -> None:
    if not RUNTIME_PYTHON.is_file():
        pytest.skip("needs .venv-lambda-py312 (make setup)")
    rgb = decode_image((ASSETS / "bus.jpg").read_bytes())
    images = []
    for fmt, params in FORMATS.items():
        path = tmp_path / f"bus.{fmt.lower()}"
        path.write_bytes(encode(rgb, fmt, **params))
        images.append(path)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(
            [str(sam_build / "PredictFunction"), str(sam_build / "RuntimeLayer" / "python")]
        ),
        "PYTHONNOUSERSITE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    model, layer = onnx_models[SQUARE_IMGSZ], sam_build / "RuntimeLayer" / "python"
    health_event = REPO / "events" / "health.json"
    done = subprocess.run(
        [RUNTIME_PYTHON, "-c", RUNTIME_SCRIPT, layer, model, health_event, *images],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer.pop("python").startswith("3.12.")
    assert answer.pop("health") == 200
    assert answer.pop("from_layer") > 100
    # Lambda cannot write bytecode next to /opt: what a cold start loads must come compiled.
    assert answer.pop("without_bytecode") == [], "add them to compile_imported.MODULES"
    for name, file in answer.pop("modules").items():
        assert Path(file).is_relative_to(sam_build), f"{name} imported from {file}"
    detector = Detector(model, CLASS_NAMES, SQUARE_IMGSZ)
    for path in images:
        expected = [
            [d.class_id, d.confidence, *d.box]
            for d in detector.predict(decode_image(path.read_bytes()))
        ]
        assert len(answer[str(path)]) == len(expected) > 0, path.name
        np.testing.assert_allclose(answer[str(path)], expected, atol=1e-4, err_msg=path.name)
