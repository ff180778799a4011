"""How fast the Lambda serves one image, next to Ultralytics' own ONNX predict and the bare
ONNX Runtime ``session.run`` it wraps.

One run, one machine, the same number of ONNX Runtime intra-op threads everywhere
(``--threads``; torch and OpenCV limited to it for Ultralytics). The model and the execution
environment are :mod:`benchmarks.lambda_harness`'s: YOLO11n exported at 640 with a fixed
640x640 input ("fixed") and with dynamic height and width ("dynamic", which the Lambda
letterboxes to 640x480 for the 4:3 photo). The image is ``bus.jpg``. After ``--warmup`` runs,
``--runs`` timed runs of each of:

(a) Ultralytics: ``YOLO("model.onnx").predict("bus.jpg", imgsz=640, conf=0.25)``, on each
    export (the issue's reference is the fixed one);
(b) the Lambda: ``predict.handler.handler`` (Mangum + FastAPI + Powertools, as deployed) on
    an API Gateway REST proxy event carrying the JPEG base64-encoded, for each export;
(c) the bare ``session.run`` of (b)'s own session on (b)'s input tensor, interleaved with (b);

plus the ``timings_ms`` the API reports, and what is left of (b) beyond them (the framework:
event, base64, routing, validation, JSON, logs and metrics). Every path runs in a fresh
process of its own with the function's environment (``GLIBC_TUNABLES`` included); (b) and
(c) run the function and layer as ``sam build`` packages them, under the python3.12 runtime
environment. The Lambda processes first time their cold start: imports, model store,
download into an empty cache, session creation and the first prediction. ``--cold-starts``
fresh processes per export are timed; the last one also runs the warm requests and reports
its peak RSS.

    .venv/bin/python -m benchmarks.serving_latency                 # 50 runs, 5 cold starts
    .venv/bin/python -m benchmarks.serving_latency --threads 2
    .venv/bin/python -m benchmarks.serving_latency --runs 3 --warmup 1 --cold-starts 1

Writes ``benchmarks/results/serving_latency-<UTC time>.json`` and ``.md`` (medians, p90s,
ratios, stages, cold starts, RSS, the issue's targets, the load average and the machine).
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import lambda_harness as harness
from benchmarks.machine import machine_info, machine_line, write_results

TARGETS = {
    "lambda_over_ultralytics": 0.6,
    "lambda_over_session_run": 1.15,
    "cold_start_ms": 1500.0,
    "peak_rss_mb": 250.0,
}
"""The issue's targets (upper bounds): (b) over (a) on the fixed export, (b) over (c), the
cold start and the warm environment's peak RSS."""
STAGES = ("decode", "preprocess", "inference", "postprocess")


def lambda_child(result_path: Path, runs: int, warmup: int) -> None:
    """(b) and (c) in this fresh process: the cold start, then both interleaved."""
    started, started_cpu = time.perf_counter(), time.process_time()
    import predict.handler as lambda_module  # settings, app and store, as Lambda's init

    imported = time.perf_counter()
    jpeg = harness.bus_jpeg_path().read_bytes()
    event, context = harness.rest_event(jpeg), harness.LambdaContext()
    response = lambda_module.handler(event, context)
    answered, answered_cpu = time.perf_counter(), time.process_time()
    if response["statusCode"] != 200:
        raise RuntimeError(f"first request answered {response['statusCode']}: {response['body']}")
    first = json.loads(response["body"])
    rss_first_kib = harness.memory_kib()

    from predict.images import decode_image
    from predict.processing import to_input_tensor

    detector = lambda_module.app.state.store.loaded.detector
    tensor = to_input_tensor(detector.letterbox(decode_image(jpeg)).image)
    feed = {detector.input_name: tensor}
    lambda_s, session_s, stages, detections = [], [], [], set()
    lambda_cpu_s, session_cpu_s = [], []
    for i in range(warmup + runs):
        t0, c0 = time.perf_counter(), time.process_time()
        response = lambda_module.handler(event, context)
        t1, c1 = time.perf_counter(), time.process_time()
        detector.session.run(None, feed)
        t2, c2 = time.perf_counter(), time.process_time()
        body = json.loads(response["body"])
        if response["statusCode"] != 200:
            raise RuntimeError(f"request answered {response['statusCode']}: {body}")
        if i >= warmup:
            lambda_s.append(t1 - t0)
            session_s.append(t2 - t1)
            lambda_cpu_s.append(c1 - c0)
            session_cpu_s.append(c2 - c1)
            stages.append(body["timings_ms"])
            detections.add(len(body["detections"]))
    options = detector.session.get_session_options()
    result = {
        "cold_start": {
            "import_ms": round((imported - started) * 1000, 1),
            "first_request_ms": round((answered - imported) * 1000, 1),
            "total_ms": round((answered - started) * 1000, 1),
            "total_cpu_ms": round((answered_cpu - started_cpu) * 1000, 1),
            "first_request_timings_ms": {k: round(v, 2) for k, v in first["timings_ms"].items()},
            "peak_rss_mb_after_first_request": round(rss_first_kib / 1024, 1),
        },
        "lambda_s": lambda_s,
        "session_run_s": session_s,
        "lambda_cpu_s": lambda_cpu_s,
        "session_run_cpu_s": session_cpu_s,
        "timings_ms": stages,
        "detections": sorted(detections),
        "input_shape": list(tensor.shape),
        "intra_op_num_threads": options.intra_op_num_threads,
        "peak_rss_mb": round(harness.memory_kib() / 1024, 1),
    }
    result_path.write_text(json.dumps(result))


def ultralytics_child(result_path: Path, onnx_path: Path, runs: int, warmup: int, threads: int):
    """(a) in this fresh process: Ultralytics' predict on the file, its session replaced by
    one with ``threads`` intra-op threads, torch and OpenCV limited to ``threads``."""
    import cv2
    import torch
    from ultralytics import YOLO

    from predict.detector import create_session

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    image = str(harness.bus_jpeg_path())
    model = YOLO(str(onnx_path), task="detect")

    def predict():
        return model.predict(image, imgsz=harness.IMGSZ[0], conf=harness.CONF, verbose=False)

    predict()  # builds the predictor and its session (with ONNX Runtime's default threads)
    backend = model.predictor.model.backend
    backend.session = create_session(onnx_path, intra_op_threads=threads)
    times, cpu_times, speeds, detections = [], [], [], set()
    for i in range(warmup + runs):
        t0, c0 = time.perf_counter(), time.process_time()
        (result,) = predict()
        t1, c1 = time.perf_counter(), time.process_time()
        if i >= warmup:
            times.append(t1 - t0)
            cpu_times.append(c1 - c0)
            speeds.append(result.speed)
            detections.add(len(result.boxes))
    result = {
        "s": times,
        "cpu_s": cpu_times,
        "speed_ms_median": {
            k: round(statistics.median(x[k] for x in speeds), 2) for k in speeds[0]
        },
        "detections": sorted(detections),
        "intra_op_num_threads": backend.session.get_session_options().intra_op_num_threads,
        "torch_threads": torch.get_num_threads(),
    }
    result_path.write_text(json.dumps(result))


def measure(args: argparse.Namespace) -> dict:
    """Export, publish, and run every child process; the report."""
    work_dir = args.work_dir.resolve()
    models = harness.export_models(work_dir)
    lambdas: dict[str, dict] = {}
    cold: dict[str, list[dict]] = {kind: [] for kind in harness.EXPORTS}
    with harness.moto_endpoint() as endpoint:
        for kind in harness.EXPORTS:
            harness.publish(models[kind], endpoint, kind)
            for i in range(-1 if kind == harness.EXPORTS[0] else 0, args.cold_starts):
                runs = args.runs if i == args.cold_starts - 1 else 0
                role = ["--role", "lambda", *_run_args(args, runs)]
                with harness.lambda_environment(
                    endpoint, work_dir, args.threads, args.without_env
                ) as env:
                    result, wall_s = harness.run_child(
                        "serving_latency", role, env, python=harness.LAMBDA_PYTHON
                    )
                if i < 0:
                    continue  # untimed: it read the built files into the page cache
                result["cold_start"]["process_wall_ms"] = round(wall_s * 1000, 1)
                result["cold_start"]["model_load_ms"] = _model_load_ms(result.pop("stdout"))
                cold[kind].append(result["cold_start"])
                print(f"  {kind} cold start {i + 1}: {result['cold_start']['total_ms']} ms")
            lambdas[kind] = result
            print(f"(b), (c) {kind}: {args.runs} runs each, interleaved", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= harness.function_environment(args.without_env)
    ultralytics = {}
    for kind in harness.EXPORTS:
        role = ["--role", "ultralytics", "--onnx", str(models[kind])]
        ultralytics[kind], _ = harness.run_child(
            "serving_latency", role + _run_args(args, args.runs), env
        )
        print(f"(a) {kind}: {args.runs} runs", flush=True)
    return report(args, models, lambdas, cold, ultralytics)


def _run_args(args: argparse.Namespace, runs: int) -> list[str]:
    return ["--runs", str(runs), "--warmup", str(args.warmup), "--threads", str(args.threads)]


def _model_load_ms(stdout: str) -> float | None:
    """``load_ms`` of the model store's "model loaded" log line."""
    for line in stdout.splitlines():
        if '"model loaded"' in line:
            return json.loads(line).get("load_ms")
    return None


def _ratios(a: dict, b: dict, c: dict) -> dict[str, dict[str, float]]:
    """Per export: (b) over (a) on the fixed export and on the same one, (b) over (c)."""
    return {
        kind: {
            "lambda_over_ultralytics_fixed": round(
                b[kind]["median_ms"] / a["fixed"]["median_ms"], 3
            ),
            "lambda_over_ultralytics_same_export": round(
                b[kind]["median_ms"] / a[kind]["median_ms"], 3
            ),
            "lambda_over_session_run": round(b[kind]["median_ms"] / c[kind]["median_ms"], 3),
        }
        for kind in harness.EXPORTS
    }


def report(args, models, lambdas, cold, ultralytics) -> dict:
    a = {kind: harness.summary_ms(ultralytics[kind]["s"]) for kind in harness.EXPORTS}
    b = {kind: harness.summary_ms(lambdas[kind]["lambda_s"]) for kind in harness.EXPORTS}
    c = {kind: harness.summary_ms(lambdas[kind]["session_run_s"]) for kind in harness.EXPORTS}
    stages = {}
    for kind in harness.EXPORTS:
        timings = lambdas[kind]["timings_ms"]
        medians = {s: round(statistics.median(t[s] for t in timings), 2) for s in STAGES}
        framework = [
            ms * 1000 - sum(t[s] for s in STAGES)
            for ms, t in zip(lambdas[kind]["lambda_s"], timings, strict=True)
        ]
        stages[kind] = medians | {"framework": round(statistics.median(framework), 2)}
    ratios = _ratios(a, b, c)
    cpu = {
        "ultralytics_predict": {k: harness.summary_ms(v["cpu_s"]) for k, v in ultralytics.items()},
        "lambda_handler": {k: harness.summary_ms(v["lambda_cpu_s"]) for k, v in lambdas.items()},
        "session_run": {k: harness.summary_ms(v["session_run_cpu_s"]) for k, v in lambdas.items()},
    }
    cpu["ratios"] = _ratios(*cpu.values())
    cold_median = {k: statistics.median(x["total_ms"] for x in v) for k, v in cold.items()}
    best = min(harness.EXPORTS, key=lambda k: b[k]["median_ms"])
    measured = {
        "lambda_over_ultralytics": ratios[best]["lambda_over_ultralytics_fixed"],
        "lambda_over_session_run": ratios[best]["lambda_over_session_run"],
        "cold_start_ms": cold_median[best],
        "peak_rss_mb": lambdas[best]["peak_rss_mb"],
    }
    return {
        "benchmark": "serving_latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": harness.load_average(),
        "model": {
            "architecture": "yolo11n.yaml, 80 classes, untrained (BatchNorm and class logits "
            "calibrated on bus.jpg and zidane.jpg); latency does not depend on the weights "
            "except through the number of NMS candidates",
            "onnx": {kind: path.name for kind, path in models.items()},
            "imgsz": list(harness.IMGSZ),
            "lambda_input_shape": {k: lambdas[k]["input_shape"] for k in harness.EXPORTS},
        },
        "image": "bus.jpg (810x1080) from the Ultralytics wheel",
        "conf": harness.CONF,
        "runs": args.runs,
        "warmup": args.warmup,
        "threads": args.threads,
        "function_environment": harness.function_environment(args.without_env),
        "alias_cache_ttl_s": harness.ALIAS_TTL_S,
        "aws": "moto server on 127.0.0.1 (S3 + SSM)",
        "summary": {
            "ultralytics_predict": a,
            "lambda_handler": b,
            "session_run": c,
            "lambda_stages_ms_median": stages,
            "ultralytics_speed_ms_median": {
                k: v["speed_ms_median"] for k, v in ultralytics.items()
            },
            "ratios": ratios,
            "cpu_time": cpu,
            "cold_start_ms_median": cold_median,
            "peak_rss_mb": {k: lambdas[k]["peak_rss_mb"] for k in harness.EXPORTS},
        },
        "best_export": best,
        "targets": {
            name: {"target": limit, "measured": measured[name], "met": measured[name] <= limit}
            for name, limit in TARGETS.items()
        },
        "detections": {
            "ultralytics": {k: v["detections"] for k, v in ultralytics.items()},
            "lambda": {k: v["detections"] for k, v in lambdas.items()},
        },
        "cold_starts": cold,
        "samples_ms": {
            kind: {
                "ultralytics_predict": [round(s * 1000, 3) for s in ultralytics[kind]["s"]],
                "lambda_handler": [round(s * 1000, 3) for s in lambdas[kind]["lambda_s"]],
                "session_run": [round(s * 1000, 3) for s in lambdas[kind]["session_run_s"]],
            }
            for kind in harness.EXPORTS
        },
        "machine": machine_info() | harness.versions(args.work_dir.resolve()),
    }


def markdown(r: dict) -> str:
    m, s, t = r["machine"], r["summary"], r["targets"]
    shapes = r["model"]["lambda_input_shape"]
    lines = [
        f"# Serving latency, {r['date']}",
        "",
        f"{r['image']}, `conf={r['conf']}`, model {r['model']['architecture']}. Exports at "
        f"640: fixed 640x640, and dynamic (the Lambda's input for this photo: "
        f"{shapes['dynamic'][2]}x{shapes['dynamic'][3]}). {r['threads']} ONNX Runtime intra-op "
        f"thread(s) everywhere (torch and OpenCV too, for Ultralytics). {r['runs']} timed runs "
        f"each after {r['warmup']} warm-up runs; (b) and (c) interleaved in one fresh process, "
        f"(a) in another, each with the function's environment "
        f"({', '.join(f'`{k}={v}`' for k, v in r['function_environment'].items()) or 'none'}). "
        f"Alias and model from a {r['aws']}, alias cached {r['alias_cache_ttl_s']} s. "
        f"Load average at the end (1/5/15 min): {r['load_average']}.",
        "",
        "| what | export | median | p90 | min | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, key in (
        ("(a) Ultralytics `YOLO(onnx).predict(bus.jpg)`", "ultralytics_predict"),
        ("(b) Lambda handler, REST event -> response", "lambda_handler"),
        ("(c) bare `session.run` on (b)'s tensor", "session_run"),
    ):
        for kind in ("fixed", "dynamic"):
            x = s[key][kind]
            lines.append(
                f"| {name} | {kind} | {x['median_ms']:.1f} ms | {x['p90_ms']:.1f} ms | "
                f"{x['min_ms']:.1f} ms | {x['max_ms']:.1f} ms |"
            )
    lines += ["", "| ratio of medians | fixed | dynamic |", "| --- | --- | --- |"]
    for key, label in (
        ("lambda_over_ultralytics_fixed", "(b) / (a) on the fixed export (the issue's)"),
        ("lambda_over_ultralytics_same_export", "(b) / (a) on the same export"),
        ("lambda_over_session_run", "(b) / (c)"),
    ):
        lines.append(
            f"| {label} | {s['ratios']['fixed'][key]:.2f} | {s['ratios']['dynamic'][key]:.2f} |"
        )
    cpu = s["cpu_time"]
    lines += [
        "",
        "CPU time (`time.process_time`, all threads of the process), which other processes "
        "on a shared machine disturb far less than the wall clock:",
        "",
        "| CPU time, median ms | fixed | dynamic |",
        "| --- | --- | --- |",
    ]
    for name, key in (
        ("(a)", "ultralytics_predict"),
        ("(b)", "lambda_handler"),
        ("(c)", "session_run"),
    ):
        fixed, dynamic = cpu[key]["fixed"]["median_ms"], cpu[key]["dynamic"]["median_ms"]
        lines.append(f"| {name} | {fixed:.1f} | {dynamic:.1f} |")
    for key, label in (
        ("lambda_over_ultralytics_fixed", "(b) / (a fixed)"),
        ("lambda_over_session_run", "(b) / (c)"),
    ):
        lines.append(
            f"| {label} | {cpu['ratios']['fixed'][key]:.2f} | {cpu['ratios']['dynamic'][key]:.2f} |"
        )
    lines += ["", "| (b)'s parts, median ms | fixed | dynamic |", "| --- | --- | --- |"]
    for stage in (*STAGES, "framework"):
        row = [s["lambda_stages_ms_median"][k][stage] for k in ("fixed", "dynamic")]
        lines.append(f"| {stage} | {row[0]:.1f} | {row[1]:.1f} |")
    speeds = s["ultralytics_speed_ms_median"]
    lines += [
        "",
        "Framework: (b) minus its four reported stages (event and base64, routing, validation,"
        " response JSON, logs, metrics). Ultralytics' own `Results.speed`, median ms: "
        + "; ".join(
            f"{k} " + ", ".join(f"{n} {v:.1f}" for n, v in speeds[k].items()) for k in speeds
        )
        + ".",
        "",
        f"| target (the issue), best export: {r['best_export']} | target | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    label = {
        "lambda_over_ultralytics": "(b) / (a fixed), median",
        "lambda_over_session_run": "(b) / (c), median",
        "cold_start_ms": "cold start, median, ms",
        "peak_rss_mb": "peak RSS of the warm environment, MiB",
    }
    lines += [
        f"| {label[name]} | <= {x['target']:g} | {x['measured']:g} | "
        f"{'yes' if x['met'] else 'no'} |"
        for name, x in t.items()
    ]
    lines += [
        "",
        "| cold start | export | imports | first request | of which model load | total "
        "| total CPU | peak RSS after it |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, starts in r["cold_starts"].items():
        lines += [
            f"| {i} | {kind} | {x['import_ms']:.0f} ms | {x['first_request_ms']:.0f} ms | "
            f"{x.get('model_load_ms') or float('nan'):.0f} ms | {x['total_ms']:.0f} ms | "
            f"{x['total_cpu_ms']:.0f} ms | {x['peak_rss_mb_after_first_request']:.0f} MiB |"
            for i, x in enumerate(starts, start=1)
        ]
    d = r["detections"]
    lines += [
        "",
        "Cold start: imports of `predict.handler` (settings, app, store), then the first request"
        " (alias, manifest, download into an empty cache, session, prediction), in a new "
        f"process of the python3.12 runtime environment (Python {m['lambda_python']}) running "
        "the function and its layer as `sam build` packages them. Detections on bus.jpg: "
        f"Ultralytics {d['ultralytics']}, Lambda {d['lambda']}. Peak RSS is the warm "
        "process's `VmHWM` after its requests.",
        "",
        machine_line(m, f"ONNX Runtime {m['onnxruntime']}", f"Ultralytics {m['ultralytics']}"),
        "",
        harness.lambda_line(m),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each path")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before them")
    parser.add_argument("--cold-starts", type=int, default=5, help="fresh processes per export")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads everywhere")
    parser.add_argument("--role", choices=["lambda", "ultralytics"], help=argparse.SUPPRESS)
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child and args.role == "lambda":
        lambda_child(args.child, args.runs, args.warmup)
        return 0
    if args.child:
        harness.ultralytics_offline(args.work_dir.resolve())
        ultralytics_child(args.child, args.onnx, args.runs, args.warmup, args.threads)
        return 0
    if args.runs < 1 or args.cold_starts < 1 or args.threads < 1:
        parser.error("--runs, --cold-starts and --threads must be at least 1")
    result = measure(args)
    path = write_results("serving_latency", result, markdown(result))
    s, t = result["summary"], result["targets"]
    print(
        f"median (a fixed) {s['ultralytics_predict']['fixed']['median_ms']} ms, (b) "
        f"{ {k: v['median_ms'] for k, v in s['lambda_handler'].items()} }, (c) "
        f"{ {k: v['median_ms'] for k, v in s['session_run'].items()} }; targets "
        f"{ {k: v['measured'] for k, v in t.items()} }; wrote {path} and .md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
