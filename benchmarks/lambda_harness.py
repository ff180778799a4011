"""The predict function's execution environment on this machine, for the serving benchmarks.

The model is YOLO11n built from ``yolo11n.yaml`` (80 classes; no pretrained weights can be
downloaded here), made to answer image-dependently as the tests' model is
(:func:`tests.functions.predict.support.calibrated_yolo11n`), with constants chosen so that
on bus.jpg about 40 candidates pass ``conf=0.25`` and 27 detections survive NMS, the order
of a trained model. It is exported twice at 640: with a fixed 640x640 input, and with
dynamic height and width (calibrated on the photos padded only to the stride, as that export
sees them, so that both give NMS a similar load). Latency does not depend on the weights,
except through NMS.

An environment is a fresh process of the python3.12 runtime environment
(``.venv-lambda-py312``: what the managed runtime ships, boto3 included) running the function
as ``sam build`` packages it (:func:`built_function`: the code and the runtime layer, both
with the bytecode they ship, and none written at run time as /var/task and /opt are
read-only), with the environment template.yaml gives the function (its literal variables,
e.g. ``GLIBC_TUNABLES``, plus ``PREDICT_*`` settings for this machine), the alias and model
served by a moto server (S3 + SSM) on 127.0.0.1, and an empty model cache: its first
request is a cold start.
"""

import argparse
import base64
import contextlib
import functools
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK_DIR = REPO / ".state" / "benchmarks" / "serving"
IMGSZ = (640, 640)
CONF = 0.25
BUCKET = "detector-models-bench"
MODEL_NAME = "detector"
ALIAS_PARAMETER = "/detector/bench/model-alias"
ALIAS_TTL_S = 5
"""``template.yaml``'s default ``AliasCacheTtlSeconds``: warm requests re-read SSM this often."""
LAMBDA_PYTHON = REPO / ".venv-lambda-py312" / "bin" / "python"
"""The python3.12 runtime environment (``make setup``), as in
``tests/functions/predict/support.RUNTIME_PYTHON``."""
EXPORTS = ("fixed", "dynamic")
"""Fixed 640x640 input, or dynamic height and width (minimum-padding letterbox)."""
VERSIONS = {"fixed": "1", "dynamic": "2"}
CALIBRATION = {"quantile": 0.99995, "logit_scale": 4.0, "logit_shift": 2.0}


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser: its docstring's first paragraph, ``--work-dir`` (models and
    caches) and the hidden ``--child <result file>`` its own child processes get."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="models, caches")
    parser.add_argument(
        "--without-env",
        action="append",
        default=[],
        metavar="NAME",
        help="leave this variable of the function's environment out (e.g. GLIBC_TUNABLES)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return parser


def bus_jpeg_path() -> Path:
    """``bus.jpg`` (810x1080, portrait) from the Ultralytics wheel; in a
    :func:`lambda_environment`, which has no Ultralytics, the path its parent found
    (``BENCHMARK_IMAGE``)."""
    import importlib.util

    if "BENCHMARK_IMAGE" in os.environ:
        return Path(os.environ["BENCHMARK_IMAGE"])
    (package_dir,) = importlib.util.find_spec("ultralytics").submodule_search_locations
    return Path(package_dir) / "assets" / "bus.jpg"


def ultralytics_offline(work_dir: Path) -> None:
    """No downloads, no pip installs, no settings written outside ``work_dir``."""
    os.environ.update(
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="false",
        YOLO_VERBOSE="false",
        YOLO_CONFIG_DIR=str(work_dir / "yolo_config"),
    )


def export_models(work_dir: Path) -> dict[str, Path]:
    """``{"fixed": path, "dynamic": path}``: the benchmark model's two ONNX exports at 640,
    made once and kept in ``work_dir``."""
    targets = {kind: work_dir / f"yolo11n_640_{kind}.onnx" for kind in EXPORTS}
    if all(path.is_file() for path in targets.values()):
        return targets
    ultralytics_offline(work_dir)
    from tests.functions.predict.support import calibrated_yolo11n, export_onnx

    names = {i: str(i) for i in range(80)}
    for kind, target in targets.items():
        dynamic = kind == "dynamic"  # calibrated on what the export will see, for a like NMS load
        yolo = calibrated_yolo11n(names, work_dir / kind, IMGSZ, dynamic, **CALIBRATION)
        export_onnx(yolo, IMGSZ, target, dynamic=dynamic)
    return targets


def function_environment(without: list[str] = ()) -> dict[str, str]:
    """The literal (not ``!Ref``) environment variables template.yaml gives the function,
    less those named in ``without``."""
    from tests.static.support import load_cfn_yaml

    template = load_cfn_yaml(REPO / "template.yaml")
    variables = template["Resources"]["PredictFunction"]["Properties"]["Environment"]
    return {
        k: v
        for k, v in variables["Variables"].items()
        if isinstance(v, str) and v and k not in without
    }


@contextlib.contextmanager
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3 + SSM) on 127.0.0.1 for the duration; yields its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its request log
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def publish(onnx_path: Path, endpoint: str, kind: str) -> str:
    """Publish an export as the training job does (``VERSIONS[kind]``) and point the alias
    at it; returns the version."""
    import ast

    import boto3
    import onnxruntime as ort

    from predict.manifest import manifest_key, onnx_key
    from training.publish import build_manifest

    version = VERSIONS[kind]
    names = ort.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map["names"]
    class_names = {int(i): str(n) for i, n in ast.literal_eval(names).items()}
    manifest = build_manifest(
        onnx_path, MODEL_NAME, version, class_names, IMGSZ, None, {}, dynamic=kind == "dynamic"
    )
    s3 = boto3.client("s3", endpoint_url=endpoint)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(onnx_path), BUCKET, onnx_key(MODEL_NAME, version))
    s3.put_object(
        Bucket=BUCKET, Key=manifest_key(MODEL_NAME, version), Body=manifest.model_dump_json()
    )
    boto3.client("ssm", endpoint_url=endpoint).put_parameter(
        Name=ALIAS_PARAMETER, Value=version, Type="String", Overwrite=True
    )
    return version


@functools.cache
def built_function(work_dir: Path) -> Path:
    """The function and its layer as ``sam build`` makes them for ``make deploy``, kept in
    ``work_dir`` (rebuilt where their sources changed, once per benchmark process);
    ``PredictFunction/`` and ``RuntimeLayer/python/`` are Lambda's /var/task and /opt/python."""
    from tests.functions.predict.support import sam_build

    return sam_build(work_dir / "sam_build", work_dir / "sam_cache")


@contextlib.contextmanager
def lambda_environment(
    endpoint: str, work_dir: Path, threads: int, without: list[str] = ()
) -> Iterator[dict[str, str]]:
    """Environment variables of one new execution environment (see the module docstring):
    the built function and layer on its path, its model cache a new folder in
    ``work_dir``, removed afterwards. Run it with :data:`LAMBDA_PYTHON`."""
    import shutil
    import uuid

    build = built_function(work_dir)
    tmp = work_dir / "environments" / uuid.uuid4().hex
    try:
        yield _environment_variables(endpoint, build, tmp, threads, without)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _environment_variables(endpoint, build: Path, tmp: Path, threads: int, without):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREDICT_"))}
    env.update(function_environment(without))
    paths = [build / "PredictFunction", build / "RuntimeLayer" / "python"]
    env.update(
        PYTHONPATH=os.pathsep.join(map(str, paths)),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        BENCHMARK_IMAGE=str(bus_jpeg_path()),
    )
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        PREDICT_AWS_ENDPOINT_URL=endpoint,
        PREDICT_MODELS_BUCKET=BUCKET,
        PREDICT_MODEL_NAME=MODEL_NAME,
        PREDICT_ALIAS_PARAMETER=ALIAS_PARAMETER,
        PREDICT_ALIAS_TTL_SECONDS=str(ALIAS_TTL_S),
        PREDICT_CACHE_DIR=str(tmp / "models"),
        PREDICT_INTRA_OP_THREADS=str(threads),
        PREDICT_CONF=str(CONF),
    )
    return env


def run_child(
    module: str, args: list[str], env: dict[str, str], python: Path | str = sys.executable
) -> tuple[dict, float]:
    """Run ``python -m benchmarks.<module> --child <result file> args...`` (``python``: this
    interpreter, or :data:`LAMBDA_PYTHON` in a :func:`lambda_environment`); its JSON result
    and its wall time in seconds (start to exit)."""
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        command = [str(python), "-m", f"benchmarks.{module}", "--child", str(result_path)]
        started = time.perf_counter()
        done = subprocess.run(command + args, env=env, cwd=REPO, capture_output=True, text=True)
        wall_s = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{module} child failed ({done.returncode}):\n{done.stderr}")
        result = json.loads(result_path.read_text())
    result["stdout"] = done.stdout
    return result, wall_s


def rest_event(
    body: bytes, content_type: str = "image/jpeg", query: dict[str, str] | None = None
) -> dict:
    """``events/predict_jpeg.json`` (an API Gateway REST proxy event for ``POST /predict``)
    carrying ``body`` base64-encoded, with the query (default: ``conf``)."""
    query = {"conf": str(CONF)} if query is None else query
    event = json.loads((REPO / "events" / "predict_jpeg.json").read_text())
    event["headers"] |= {"Content-Length": str(len(body)), "Content-Type": content_type}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    event["body"] = base64.b64encode(body).decode()
    return event


class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name = "PredictFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/PredictFunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def memory_kib(field: str = "VmHWM") -> int:
    """This process's ``VmHWM`` (peak RSS) or ``VmRSS`` in KiB, from /proc/self/status.

    Not ``getrusage``'s ``ru_maxrss``: it survives ``execve``, so a process started by a big
    parent reports the parent's peak.
    """
    status = Path("/proc/self/status").read_text().split()
    return int(status[status.index(f"{field}:") + 1])


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (``uptime``): the machine may be shared."""
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: always one of the measured values)."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """Median, p90, min and max of durations given in seconds, in milliseconds."""
    values = [v * 1000 for v in values_s]
    return {
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(percentile(values, 0.9), 2),
        "min_ms": round(min(values), 2),
        "max_ms": round(max(values), 2),
    }


def versions(work_dir: Path) -> dict[str, str]:
    """The inference libraries' versions, for the results: this process's (Ultralytics'
    side) and, as ``lambda_*``, the execution environments' (:data:`LAMBDA_PYTHON` with the
    built layer of ``work_dir``)."""
    import numpy
    import onnxruntime
    import ultralytics

    code = (
        "import json, platform, numpy, onnxruntime; print(json.dumps({"
        "'lambda_python': platform.python_version(), "
        "'lambda_onnxruntime': onnxruntime.__version__, 'lambda_numpy': numpy.__version__}))"
    )
    layer = built_function(work_dir) / "RuntimeLayer" / "python"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(layer), "PYTHONNOUSERSITE": "1"}
    done = subprocess.run(
        [str(LAMBDA_PYTHON), "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return {
        "onnxruntime": onnxruntime.__version__,
        "ultralytics": ultralytics.__version__,
        "numpy": numpy.__version__,
    } | json.loads(done.stdout)


def lambda_line(machine: dict) -> str:
    """The Markdown line naming the execution environments' Python and libraries."""
    return (
        f"Execution environments: Python {machine['lambda_python']}, ONNX Runtime "
        f"{machine['lambda_onnxruntime']}, numpy {machine['lambda_numpy']} (the built layer)."
    )
