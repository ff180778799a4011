"""How much memory one warm execution environment of the predict function holds, and
whether it grows: ``VmRSS`` and ``VmHWM`` over ``--requests`` requests (default 1,000).

Part 1, the Lambda: a fresh process with the function's environment
(:mod:`benchmarks.lambda_harness`, dynamic export) answers ``--requests`` REST events
carrying bus.jpg through ``predict.handler.handler``; ``VmRSS`` is sampled every
``--every`` requests, ``VmHWM`` (peak RSS) at the end. Growth is the RSS at the end minus the
RSS after the first tenth of the requests (by then every buffer has been allocated once).

Part 2, ONNX Runtime session options: for each combination of ``enable_cpu_mem_arena`` and
``enable_mem_pattern``, a fresh process creates a session on the same export and runs
``--session-runs`` inferences on bus.jpg's input tensor: its peak RSS. Their speed: one
more process holds all four sessions and interleaves their runs (the machine's load then
falls on all alike): the median CPU time of each.

    .venv/bin/python -m benchmarks.serving_memory
    .venv/bin/python -m benchmarks.serving_memory --requests 100 --session-runs 10

Writes ``benchmarks/results/serving_memory-<UTC time>.json`` and ``.md``.
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import lambda_harness as harness
from benchmarks.machine import machine_info, machine_line, write_results

TARGET_PEAK_RSS_MB = 250.0
EXPORT = "dynamic"


def lambda_child(result_path: Path, requests: int, every: int) -> None:
    """Part 1 in this fresh process."""
    import predict.handler as lambda_module

    event = harness.rest_event(harness.bus_jpeg_path().read_bytes())
    context = harness.LambdaContext()
    samples = []
    latencies = []
    for i in range(1, requests + 1):
        t0 = time.perf_counter()
        response = lambda_module.handler(event, context)
        latencies.append(time.perf_counter() - t0)
        if response["statusCode"] != 200:
            raise RuntimeError(f"request {i} answered {response['statusCode']}")
        if i == 1 or i % every == 0:
            samples.append({"request": i, "rss_mb": round(harness.memory_kib("VmRSS") / 1024, 1)})
    result = {
        "samples": samples,
        "peak_rss_mb": round(harness.memory_kib("VmHWM") / 1024, 1),
        "latency": harness.summary_ms(latencies[1:]),
    }
    result_path.write_text(json.dumps(result))


VARIANTS = list(itertools.product((True, False), repeat=2))
"""(enable_cpu_mem_arena, enable_mem_pattern) combinations."""


def _session_and_feed(onnx_path: Path, arena: bool, pattern: bool):
    import onnxruntime as ort

    from predict.detector import Detector
    from predict.images import decode_image
    from predict.processing import to_input_tensor

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    options.enable_mem_pattern = pattern
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    detector = Detector(session, {i: str(i) for i in range(80)}, harness.IMGSZ)
    image = decode_image(harness.bus_jpeg_path().read_bytes())
    return session, {detector.input_name: to_input_tensor(detector.letterbox(image).image)}


def session_memory_child(result_path: Path, onnx_path: Path, runs: int, arena: bool, pattern: bool):
    """Part 2's memory, in this fresh process: one session with these options, ``runs`` runs."""
    session, feed = _session_and_feed(onnx_path, arena, pattern)
    for _ in range(runs):
        session.run(None, feed)
    result = {
        "peak_rss_mb": round(harness.memory_kib("VmHWM") / 1024, 1),
        "rss_mb": round(harness.memory_kib("VmRSS") / 1024, 1),
    }
    result_path.write_text(json.dumps(result))


def session_speed_child(result_path: Path, onnx_path: Path, runs: int) -> None:
    """Part 2's speed, in this fresh process: a session per variant, their runs interleaved
    (so that the machine's load falls on all alike), CPU time of each."""
    sessions = [_session_and_feed(onnx_path, *variant) for variant in VARIANTS]
    cpu_s: list[list[float]] = [[] for _ in VARIANTS]
    for i in range(runs + 1):
        for (session, feed), samples in zip(sessions, cpu_s, strict=True):
            c0 = time.process_time()
            session.run(None, feed)
            if i:  # the first run of each is a warm-up
                samples.append(time.process_time() - c0)
    medians = [round(statistics.median(x) * 1000, 2) for x in cpu_s]
    result_path.write_text(json.dumps({"run_cpu_median_ms": medians}))


def measure(args: argparse.Namespace) -> dict:
    work_dir = args.work_dir.resolve()
    models = harness.export_models(work_dir)
    with harness.moto_endpoint() as endpoint:
        harness.publish(models[EXPORT], endpoint, EXPORT)
        child_args = ["--role", "lambda", "--requests", str(args.requests)]
        with harness.lambda_environment(endpoint, work_dir, 1, args.without_env) as env:
            lambda_result, _ = harness.run_child(
                "serving_memory",
                [*child_args, "--every", str(args.every)],
                env,
                python=harness.LAMBDA_PYTHON,
            )
    print(f"part 1: {args.requests} requests, peak RSS {lambda_result['peak_rss_mb']} MiB")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= harness.function_environment(args.without_env)
    onnx = ["--onnx", str(models[EXPORT]), "--session-runs", str(args.session_runs)]
    speed, _ = harness.run_child("serving_memory", ["--role", "session-speed", *onnx], env)
    sessions = []
    for (arena, pattern), cpu_ms in zip(VARIANTS, speed["run_cpu_median_ms"], strict=True):
        role = ["--role", "session-memory", *onnx]
        role += ["--arena", str(int(arena)), "--pattern", str(int(pattern))]
        result, _ = harness.run_child("serving_memory", role, env)
        result.pop("stdout")
        result["run_cpu_median_ms"] = cpu_ms
        sessions.append({"enable_cpu_mem_arena": arena, "enable_mem_pattern": pattern} | result)
        print(f"part 2: arena {arena}, mem pattern {pattern}: {result}")
    samples = lambda_result["samples"]
    settled = next(s for s in samples if s["request"] >= args.requests // 10)
    growth = round(samples[-1]["rss_mb"] - settled["rss_mb"], 1)
    return {
        "benchmark": "serving_memory",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": harness.load_average(),
        "export": EXPORT,
        "requests": args.requests,
        "function_environment": harness.function_environment(args.without_env),
        "lambda": lambda_result | {"growth_mb": growth, "settled": settled},
        "targets": {
            "peak_rss_mb": {
                "target": TARGET_PEAK_RSS_MB,
                "measured": lambda_result["peak_rss_mb"],
                "met": lambda_result["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
            },
            "growth_mb": {"target": 0.0, "measured": growth, "met": growth <= 1.0},
        },
        "session_options": sessions,
        "machine": machine_info() | harness.versions(args.work_dir.resolve()),
    }


def markdown(r: dict) -> str:
    lam, m = r["lambda"], r["machine"]
    samples = lam["samples"]
    lines = [
        f"# Serving memory, {r['date']}",
        "",
        f"One warm environment ({r['export']} export, bus.jpg, function environment "
        f"{', '.join(f'`{k}={v}`' for k, v in r['function_environment'].items())}), "
        f"{r['requests']} requests through `predict.handler.handler`. Load average at the end "
        f"(1/5/15 min): {r['load_average']}.",
        "",
        f"Peak RSS (VmHWM): **{lam['peak_rss_mb']:g} MiB** (target <= "
        f"{r['targets']['peak_rss_mb']['target']:g}). VmRSS after request "
        f"{lam['settled']['request']}: {lam['settled']['rss_mb']:g} MiB, after request "
        f"{samples[-1]['request']}: {samples[-1]['rss_mb']:g} MiB, growth "
        f"**{lam['growth_mb']:+g} MiB**. Request latency "
        f"median {lam['latency']['median_ms']:g} ms, p90 {lam['latency']['p90_ms']:g} ms.",
        "",
        "| request | " + " | ".join(str(s["request"]) for s in samples) + " |",
        "| --- | " + " | ".join("---" for _ in samples) + " |",
        "| VmRSS, MiB | " + " | ".join(f"{s['rss_mb']:g}" for s in samples) + " |",
        "",
        "Session options: peak RSS of a fresh process with one session after its runs; CPU "
        "time of `session.run` with the four sessions' runs interleaved in one process.",
        "",
        "| enable_cpu_mem_arena | enable_mem_pattern | peak RSS, MiB | RSS after, MiB "
        "| session.run median CPU, ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {s['enable_cpu_mem_arena']} | {s['enable_mem_pattern']} | {s['peak_rss_mb']:g} | "
        f"{s['rss_mb']:g} | {s['run_cpu_median_ms']:g} |"
        for s in r["session_options"]
    ]
    lines += [
        "",
        machine_line(m, f"ONNX Runtime {m['onnxruntime']}"),
        "",
        harness.lambda_line(m),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="requests to one environment")
    parser.add_argument("--every", type=int, default=50, help="sample VmRSS every N requests")
    parser.add_argument("--session-runs", type=int, default=30, help="runs per session variant")
    parser.add_argument(
        "--role", choices=["lambda", "session-memory", "session-speed"], help=argparse.SUPPRESS
    )
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--arena", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pattern", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child and args.role == "lambda":
        lambda_child(args.child, args.requests, args.every)
        return 0
    if args.child and args.role == "session-speed":
        session_speed_child(args.child, args.onnx, args.session_runs)
        return 0
    if args.child:
        arena, pattern = bool(args.arena), bool(args.pattern)
        session_memory_child(args.child, args.onnx, args.session_runs, arena, pattern)
        return 0
    if args.requests < 10 or args.every < 1:
        parser.error("--requests must be at least 10 and --every at least 1")
    report = measure(args)
    path = write_results("serving_memory", report, markdown(report))
    print(f"targets {json.dumps(report['targets'])}; wrote {path} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
