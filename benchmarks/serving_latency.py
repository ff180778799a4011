"""How fast the Lambda serves one image, next to Ultralytics' own ONNX predict and the bare
ONNX Runtime ``session.run`` it wraps.

One run, one machine, one ONNX Runtime intra-op (and inter-op) thread everywhere, and torch
and OpenCV limited to one thread for Ultralytics. The model is YOLO11n built from
``yolo11n.yaml`` (80 classes, no pretrained weights can be downloaded here) and exported to
ONNX at 640x640. Latency does not depend on the weights, except in NMS, so the untrained
network's BatchNorm statistics are recalibrated on the wheel's two photos and its class
logits rescaled so that a few anchors per class pass the threshold: NMS then has real work.
The image is ``bus.jpg`` from the Ultralytics wheel. After ``--warmup`` runs, ``--runs``
timed runs of each of:

(a) Ultralytics: ``YOLO("model.onnx").predict("bus.jpg", imgsz=640, conf=0.25)``;
(b) the Lambda: ``predict.handler.handler`` (Mangum + FastAPI + Powertools, as deployed) on
    an API Gateway REST proxy event carrying the JPEG base64-encoded, the model store reading
    the alias and the model from a moto server (S3 + SSM) on 127.0.0.1;
(c) the bare ``session.run`` of (b)'s own session on the same preprocessed input tensor;

plus the ``timings_ms`` the API reports. (b) and (c) run interleaved in a fresh process of
their own (nothing but the Lambda's imports), which first times its cold start: imports,
model store, download into an empty cache, session creation and the first prediction. It
reports its peak RSS after the warm requests. ``--cold-starts`` fresh processes are timed.

    .venv/bin/python benchmarks/serving_latency.py                 # 50 runs, 5 cold starts
    .venv/bin/python benchmarks/serving_latency.py --runs 3 --warmup 1 --cold-starts 1

Writes ``benchmarks/results/serving_latency-<UTC time>.json`` and ``.md`` (medians, p90s,
ratios, cold start, RSS, the issue's targets, and the machine it ran on).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.machine import machine_info, machine_line

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
WORK_DIR = REPO / ".state" / "benchmarks" / "serving_latency"
IMGSZ = (640, 640)
CONF = 0.25
BUCKET = "detector-models-bench"
MODEL_NAME = "detector"
VERSION = "1"
ALIAS_PARAMETER = "/detector/bench/model-alias"
ALIAS_TTL_S = 5
"""``template.yaml``'s default ``AliasCacheTtlSeconds``: warm requests re-read SSM this often."""
TARGETS = {
    "lambda_over_ultralytics": 0.6,
    "lambda_over_session_run": 1.15,
    "cold_start_ms": 1500.0,
    "peak_rss_mb": 250.0,
}
"""The issue's targets: (b)/(a) and (b)/(c) median ratios, cold start and RSS upper bounds."""
CALIBRATION_QUANTILE, LOGIT_SCALE, LOGIT_SHIFT = 0.99995, 4.0, 2.0
"""Class logit' = scale * (logit - quantile) / std - shift, per class: on bus.jpg about 40
candidates pass ``conf=0.25`` and 27 detections survive NMS, the order of a trained model."""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: always one of the measured values)."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    values = [v * 1000 for v in values_s]
    return {
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(percentile(values, 0.9), 2),
        "min_ms": round(min(values), 2),
        "max_ms": round(max(values), 2),
    }


def bus_jpeg_path() -> Path:
    import importlib.util

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


def export_model(work_dir: Path) -> Path:
    """YOLO11n, 80 classes, calibrated as the module says, exported to ONNX at 640x640."""
    target = work_dir / f"yolo11n_{IMGSZ[0]}x{IMGSZ[1]}.onnx"
    if target.is_file():
        return target
    import warnings

    import cv2
    import numpy as np
    import torch
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox
    from ultralytics.nn.modules.head import Detect

    torch.manual_seed(0)
    yolo = YOLO("yolo11n.yaml", task="detect")
    net = yolo.model
    assets = bus_jpeg_path().parent
    photos = [cv2.imread(str(assets / name)) for name in ("bus.jpg", "zidane.jpg")]
    batch = np.stack([LetterBox(IMGSZ)(image=p)[..., ::-1] for p in photos])
    x = torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).float() / 255
    for module in net.modules():  # BatchNorm statistics of real activations
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    head = next(m for m in net.modules() if isinstance(m, Detect))
    logits: list[torch.Tensor] = []
    hooks = [
        branch[-1].register_forward_hook(lambda _m, _i, out: logits.append(out.detach()))
        for branch in head.cv3
    ]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    flat = torch.cat([t.permute(1, 0, 2, 3).reshape(head.nc, -1) for t in logits], dim=1)
    threshold = torch.quantile(flat, CALIBRATION_QUANTILE, dim=1)
    slope = LOGIT_SCALE / flat.std(dim=1)
    with torch.no_grad():
        for branch in head.cv3:
            conv = branch[-1]
            conv.weight.mul_(slope[:, None, None, None])
            conv.bias.copy_(slope * (conv.bias - threshold) - LOGIT_SHIFT)
    work_dir.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    try:
        os.chdir(work_dir)  # the exporter writes next to the current directory
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            exported = Path(yolo.export(format="onnx", opset=17, imgsz=IMGSZ, simplify=True))
        Path(exported).resolve().replace(target)
    finally:
        os.chdir(cwd)
    return target


def publish(onnx_path: Path, endpoint: str) -> None:
    """Publish the model as the training job does and point the alias at it."""
    import ast

    import boto3
    import onnxruntime as ort

    from predict.manifest import manifest_key, onnx_key
    from training.publish import build_manifest

    names = ort.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map["names"]
    class_names = {int(i): str(n) for i, n in ast.literal_eval(names).items()}
    manifest = build_manifest(
        onnx_path, MODEL_NAME, VERSION, class_names, IMGSZ, run_id=None, metrics={}
    )
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(onnx_path), BUCKET, onnx_key(MODEL_NAME, VERSION))
    s3.put_object(
        Bucket=BUCKET, Key=manifest_key(MODEL_NAME, VERSION), Body=manifest.model_dump_json()
    )
    boto3.client("ssm", endpoint_url=endpoint).put_parameter(
        Name=ALIAS_PARAMETER, Value=VERSION, Type="String", Overwrite=True
    )


def rest_event(jpeg: bytes) -> dict:
    """``events/predict_jpeg.json`` (an API Gateway REST proxy event for ``POST /predict``)
    carrying ``jpeg`` base64-encoded, with ``conf`` as a query parameter."""
    import base64

    event = json.loads((REPO / "events" / "predict_jpeg.json").read_text())
    for headers in (event["headers"], event["multiValueHeaders"]):
        length = str(len(jpeg))
        headers["Content-Length"] = [length] if headers is event["multiValueHeaders"] else length
    event["queryStringParameters"] = {"conf": str(CONF)}
    event["multiValueQueryStringParameters"] = {"conf": [str(CONF)]}
    event["body"] = base64.b64encode(jpeg).decode()
    return event


class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name = "PredictFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/PredictFunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def lambda_process(result_path: Path, runs: int, warmup: int) -> None:
    """The Lambda's side, in a fresh process: cold start, then (b) and (c) interleaved."""
    event = rest_event(bus_jpeg_path().read_bytes())
    context = LambdaContext()
    started = time.perf_counter()
    import predict.handler as lambda_module  # builds settings, app and store, as Lambda's init

    imported = time.perf_counter()
    response = lambda_module.handler(event, context)
    answered = time.perf_counter()
    if response["statusCode"] != 200:
        raise RuntimeError(f"first request answered {response['statusCode']}: {response['body']}")
    first = json.loads(response["body"])
    rss_first_kib = _peak_rss_kib()

    import numpy as np

    from predict.images import decode_image
    from predict.processing import letterbox, to_input_tensor

    detector = lambda_module.app.state.store.loaded.detector
    session = detector.session
    tensor = to_input_tensor(letterbox(decode_image(event_bytes(event)), detector.imgsz).image)
    feed = {detector.input_name: tensor}
    lambda_s: list[float] = []
    session_s: list[float] = []
    stages: list[dict[str, float]] = []
    detections = set()
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        response = lambda_module.handler(event, context)
        t1 = time.perf_counter()
        session.run(None, feed)
        t2 = time.perf_counter()
        body = json.loads(response["body"])
        if response["statusCode"] != 200:
            raise RuntimeError(f"request answered {response['statusCode']}: {body}")
        if i >= warmup:
            lambda_s.append(t1 - t0)
            session_s.append(t2 - t1)
            stages.append(body["timings_ms"])
            detections.add(len(body["detections"]))
    options = session.get_session_options()
    result = {
        "cold_start": {
            "import_ms": round((imported - started) * 1000, 1),
            "first_request_ms": round((answered - imported) * 1000, 1),
            "total_ms": round((answered - started) * 1000, 1),
            "first_request_timings_ms": {k: round(v, 2) for k, v in first["timings_ms"].items()},
            "peak_rss_mb_after_first_request": round(rss_first_kib / 1024, 1),
        },
        "lambda_s": lambda_s,
        "session_run_s": session_s,
        "timings_ms": stages,
        "detections": sorted(detections),
        "input_shape": list(np.shape(tensor)),
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "peak_rss_mb": round(_peak_rss_kib() / 1024, 1),
        "ru_maxrss_mb": round(_ru_maxrss_kib() / 1024, 1),
    }
    result_path.write_text(json.dumps(result))


def event_bytes(event: dict) -> bytes:
    import base64

    return base64.b64decode(event["body"])


def _peak_rss_kib() -> int:
    """This process's peak RSS, KiB: ``VmHWM``, else ``getrusage``'s ``ru_maxrss``.

    ``ru_maxrss`` survives ``execve``: a process started by ``subprocess`` from a big parent
    reports the parent's peak. ``VmHWM`` belongs to the process's own address space.
    """
    try:
        status = Path("/proc/self/status").read_text().split()
        return int(status[status.index("VmHWM:") + 1])
    except (OSError, ValueError):
        return _ru_maxrss_kib()


def _ru_maxrss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_lambda_process(
    endpoint: str, work_dir: Path, tag: str, runs: int, warmup: int
) -> tuple[dict, float]:
    """One fresh Lambda process with an empty model cache; its result and its wall time (s)."""
    cache_dir = work_dir / "cache" / tag
    if cache_dir.exists():
        import shutil

        shutil.rmtree(cache_dir)
    result_path = work_dir / f"lambda_{tag}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREDICT_"))}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        PREDICT_AWS_ENDPOINT_URL=endpoint,
        PREDICT_MODELS_BUCKET=BUCKET,
        PREDICT_MODEL_NAME=MODEL_NAME,
        PREDICT_ALIAS_PARAMETER=ALIAS_PARAMETER,
        PREDICT_ALIAS_TTL_SECONDS=str(ALIAS_TTL_S),
        PREDICT_CACHE_DIR=str(cache_dir),
        PREDICT_INTRA_OP_THREADS="1",
        PREDICT_CONF=str(CONF),
    )
    command = [sys.executable, __file__, "--lambda-process", str(result_path)]
    command += ["--runs", str(runs), "--warmup", str(warmup)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"Lambda process failed ({done.returncode}):\n{done.stderr}")
    result = json.loads(result_path.read_text())
    for line in done.stdout.splitlines():  # the model store's "model loaded" log line
        if '"model loaded"' in line:
            result["cold_start"]["model_load_ms"] = json.loads(line).get("load_ms")
    return result, wall_s


def measure_ultralytics(onnx_path: Path, runs: int, warmup: int) -> dict:
    """(a): Ultralytics' predict on the file, its session swapped for a one-thread one."""
    import cv2
    import torch
    from ultralytics import YOLO

    from predict.detector import create_session

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    image = str(bus_jpeg_path())
    model = YOLO(str(onnx_path), task="detect")

    def predict():
        return model.predict(image, imgsz=IMGSZ[0], conf=CONF, verbose=False)

    predict()  # builds the predictor and its session (with ONNX Runtime's default threads)
    backend = model.predictor.model.backend
    backend.session = create_session(onnx_path, intra_op_threads=1)
    options = backend.session.get_session_options()
    times: list[float] = []
    speeds: list[dict[str, float]] = []
    detections = set()
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        (result,) = predict()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append(t1 - t0)
            speeds.append(result.speed)
            detections.add(len(result.boxes))
    # (c) again, alone in this process: a check on the interleaved one.
    from predict.images import decode_image
    from predict.processing import letterbox, to_input_tensor

    session = create_session(onnx_path, intra_op_threads=1)
    tensor = to_input_tensor(letterbox(decode_image(Path(image).read_bytes()), IMGSZ).image)
    feed = {session.get_inputs()[0].name: tensor}
    alone: list[float] = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        if i >= warmup:
            alone.append(time.perf_counter() - t0)
    return {
        "s": times,
        "speed_ms_median": {
            k: round(statistics.median(x[k] for x in speeds), 2) for k in speeds[0]
        },
        "session_run_alone_s": alone,
        "detections": sorted(detections),
        "intra_op_num_threads": options.intra_op_num_threads,
        "torch_threads": torch.get_num_threads(),
    }


def machine() -> dict[str, object]:
    """What the numbers were measured on, with the inference libraries' versions."""
    import numpy
    import onnxruntime
    import ultralytics

    return machine_info() | {
        "onnxruntime": onnxruntime.__version__,
        "ultralytics": ultralytics.__version__,
        "numpy": numpy.__version__,
    }


def run(args: argparse.Namespace) -> dict:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the moto server's request log

    work_dir = args.work_dir.resolve()
    ultralytics_offline(work_dir)
    onnx_path = export_model(work_dir)
    print(f"model: {onnx_path}", flush=True)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        publish(onnx_path, endpoint)
        cold: list[dict] = []
        for i in range(args.cold_starts):
            warm_runs = args.runs if i == args.cold_starts - 1 else 0
            result, wall_s = run_lambda_process(endpoint, work_dir, str(i), warm_runs, args.warmup)
            result["cold_start"]["process_wall_ms"] = round(wall_s * 1000, 1)
            cold.append(result["cold_start"])
            print(f"  cold start {i + 1}: {result['cold_start']['total_ms']} ms", flush=True)
        lambda_result = result
    finally:
        server.stop()
    print(f"(b), (c): {args.runs} runs each, interleaved", flush=True)
    ultralytics_result = measure_ultralytics(onnx_path, args.runs, args.warmup)
    print(f"(a): {args.runs} runs", flush=True)

    a = summary_ms(ultralytics_result["s"])
    b = summary_ms(lambda_result["lambda_s"])
    c = summary_ms(lambda_result["session_run_s"])
    stages = {
        name: round(statistics.median(t[name] for t in lambda_result["timings_ms"]), 2)
        for name in ("decode", "preprocess", "inference", "postprocess")
    }
    cold_total = [x["total_ms"] for x in cold]
    measured = {
        "lambda_over_ultralytics": round(b["median_ms"] / a["median_ms"], 3),
        "lambda_over_session_run": round(b["median_ms"] / c["median_ms"], 3),
        "cold_start_ms": statistics.median(cold_total),
        "peak_rss_mb": lambda_result["peak_rss_mb"],
    }
    return {
        "benchmark": "serving_latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "architecture": "yolo11n.yaml, 80 classes, untrained (BatchNorm and class logits "
            "calibrated on bus.jpg and zidane.jpg); latency does not depend on the weights "
            "except through the number of NMS candidates",
            "onnx": onnx_path.name,
            "imgsz": list(IMGSZ),
            "size_bytes": onnx_path.stat().st_size,
        },
        "image": "bus.jpg (810x1080) from the Ultralytics wheel",
        "conf": CONF,
        "runs": args.runs,
        "warmup": args.warmup,
        "threads": {
            "ultralytics_intra_op": ultralytics_result["intra_op_num_threads"],
            "ultralytics_torch": ultralytics_result["torch_threads"],
            "lambda_intra_op": lambda_result["intra_op_num_threads"],
            "lambda_inter_op": lambda_result["inter_op_num_threads"],
        },
        "alias_cache_ttl_s": ALIAS_TTL_S,
        "aws": "moto server on 127.0.0.1 (S3 + SSM)",
        "summary": {
            "ultralytics_predict": a,
            "lambda_handler": b,
            "session_run": c,
            "session_run_alone": summary_ms(ultralytics_result["session_run_alone_s"]),
            "lambda_timings_ms_median": stages,
            "ultralytics_speed_ms_median": ultralytics_result["speed_ms_median"],
            "ratios": {
                k: measured[k] for k in ("lambda_over_ultralytics", "lambda_over_session_run")
            },
            "cold_start_ms": {
                "median": statistics.median(cold_total),
                "min": min(cold_total),
                "max": max(cold_total),
            },
            "peak_rss_mb": lambda_result["peak_rss_mb"],
            "ru_maxrss_mb": lambda_result["ru_maxrss_mb"],
        },
        "targets": {
            name: {"target": limit, "measured": measured[name], "met": measured[name] <= limit}
            for name, limit in TARGETS.items()
        },
        "detections": {
            "ultralytics": ultralytics_result["detections"],
            "lambda": lambda_result["detections"],
        },
        "cold_starts": cold,
        "samples_ms": {
            "ultralytics_predict": [round(s * 1000, 3) for s in ultralytics_result["s"]],
            "lambda_handler": [round(s * 1000, 3) for s in lambda_result["lambda_s"]],
            "session_run": [round(s * 1000, 3) for s in lambda_result["session_run_s"]],
            "lambda_timings": lambda_result["timings_ms"],
        },
        "machine": machine(),
    }


def markdown(report: dict) -> str:
    m, s, t = report["machine"], report["summary"], report["targets"]
    ratios = s["ratios"]
    label = {
        "lambda_over_ultralytics": "(b) / (a), median",
        "lambda_over_session_run": "(b) / (c), median",
        "cold_start_ms": "cold start of (b), median, ms",
        "peak_rss_mb": "peak RSS of (b)'s process, MiB",
    }
    lines = [
        f"# Serving latency, {report['date']}",
        "",
        f"{report['image']}, `conf={report['conf']}`, model {report['model']['architecture']}; "
        f"ONNX at {report['model']['imgsz'][0]}x{report['model']['imgsz'][1]}. One ONNX "
        "Runtime intra-op thread everywhere (torch and OpenCV at one thread for Ultralytics). "
        f"{report['runs']} timed runs each after {report['warmup']} warm-up runs; (b) and (c) "
        "interleaved in one fresh process, (a) in another. Alias and model from a "
        f"{report['aws']}, alias cached {report['alias_cache_ttl_s']} s.",
        "",
        "| what | median | p90 | min | max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, key in (
        ("(a) Ultralytics `YOLO(onnx).predict(bus.jpg)`", "ultralytics_predict"),
        ("(b) Lambda handler, REST event -> response", "lambda_handler"),
        ("(c) bare `session.run`, same tensor, interleaved with (b)", "session_run"),
        ("(c) again, alone in (a)'s process", "session_run_alone"),
    ):
        x = s[key]
        lines.append(
            f"| {name} | {x['median_ms']:.1f} ms | {x['p90_ms']:.1f} ms | "
            f"{x['min_ms']:.1f} ms | {x['max_ms']:.1f} ms |"
        )
    stages = s["lambda_timings_ms_median"]
    lines += [
        "",
        "Ratios of medians: (b) / (a) = "
        f"**{ratios['lambda_over_ultralytics']:.2f}**, (b) / (c) = "
        f"**{ratios['lambda_over_session_run']:.2f}**.",
        "",
        "Stages (b)'s API reports, median ms: "
        + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        + f" (sum {sum(stages.values()):.1f}). Ultralytics' own `Results.speed`, median ms: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s["ultralytics_speed_ms_median"].items())
        + ".",
        "",
        "| target (the issue) | target | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {label[name]} | <= {x['target']:g} | {x['measured']:g} | "
        f"{'yes' if x['met'] else 'no'} |"
        for name, x in t.items()
    ]
    lines += [
        "",
        "| cold start | imports | first request | of which model load | total | process wall "
        "| peak RSS after it |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {i} | {x['import_ms']:.0f} ms | {x['first_request_ms']:.0f} ms | "
        f"{x.get('model_load_ms') or float('nan'):.0f} ms | {x['total_ms']:.0f} ms | "
        f"{x['process_wall_ms']:.0f} ms | {x['peak_rss_mb_after_first_request']:.0f} MiB |"
        for i, x in enumerate(report["cold_starts"], start=1)
    ]
    d = report["detections"]
    lines += [
        "",
        "Cold start: imports of `predict.handler` (settings, app, store), then the first request"
        " (alias, manifest, download into an empty cache, session, prediction). Process wall, seen"
        " from the launcher, adds the interpreter's start and exit (and, for the last, the warm"
        " runs). Detections on bus.jpg: Ultralytics "
        f"{d['ultralytics']}, Lambda {d['lambda']}. Peak RSS is the process's `VmHWM` after "
        f"the warm requests; `getrusage`'s `ru_maxrss` says {s['ru_maxrss_mb']:g} MiB, which "
        "includes the launching benchmark process's peak (it survives `execve`).",
        "",
        machine_line(m, f"ONNX Runtime {m['onnxruntime']}", f"Ultralytics {m['ultralytics']}"),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each path")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before them")
    parser.add_argument("--cold-starts", type=int, default=5, help="fresh Lambda processes")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="model export, caches")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--lambda-process", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lambda_process:
        lambda_process(args.lambda_process, args.runs, args.warmup)
        return 0
    if args.runs < 1 or args.cold_starts < 1:
        parser.error("--runs and --cold-starts must be at least 1")
    report = run(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"serving_latency-{report['date'].replace(':', '').replace('+0000', 'Z')}"
    json_path = args.output_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    json_path.with_suffix(".md").write_text(markdown(report))
    s = report["summary"]
    print(
        f"median (a) {s['ultralytics_predict']['median_ms']} ms, (b) "
        f"{s['lambda_handler']['median_ms']} ms, (c) {s['session_run']['median_ms']} ms; "
        f"(b)/(a) {s['ratios']['lambda_over_ultralytics']}, (b)/(c) "
        f"{s['ratios']['lambda_over_session_run']}; cold start {s['cold_start_ms']['median']} ms;"
        f" RSS {s['peak_rss_mb']} MiB; wrote {json_path} and .md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
