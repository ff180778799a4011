"""Sustained throughput of the predict function: requests per second and latency under a loop
of back-to-back ``POST /predict`` requests carrying bus.jpg (raw ``image/jpeg``).

Part 1, loopback: one warm execution environment (:mod:`benchmarks.lambda_harness`, dynamic
export, a fresh process with the function's environment) behind a one-request-at-a-time HTTP
server on 127.0.0.1 that turns each request into an API Gateway REST proxy event for
``predict.handler.handler``, as API Gateway and the Lambda runtime do. A Lambda execution
environment serves one request at a time, so this is one environment's throughput.

Part 2, deployed: the same loop against the deployed stack's API URL through LocalStack
(``DETECTOR_*`` settings, default the dev stack; ``make deploy`` and a promoted version
first). LocalStack may run several environments; the loop sends one request at a time.

Each part first sends ``--warmup`` requests, then loops for ``--seconds``.

    .venv/bin/python -m benchmarks.serving_throughput                  # both parts, 30 s each
    .venv/bin/python -m benchmarks.serving_throughput --part loopback --seconds 10
    DETECTOR_STACK_NAME=my-stack .venv/bin/python -m benchmarks.serving_throughput --part deployed

Writes ``benchmarks/results/serving_throughput-<UTC time>.json`` and ``.md``.
"""

import argparse
import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from benchmarks import lambda_harness as harness
from benchmarks.machine import machine_info, machine_line, write_results

EXPORT = "dynamic"


def serve_child(port_file: Path) -> None:
    """Part 1's environment, in this fresh process: serve until killed."""
    import predict.handler as lambda_module

    context = harness.LambdaContext()

    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            event = harness.rest_event(body, self.headers["Content-Type"], query)
            response = lambda_module.handler(event, context)
            payload = response["body"].encode()
            if response.get("isBase64Encoded"):
                payload = base64.b64decode(payload)
            self.send_response(response["statusCode"])
            for name, value in (response.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:  # no access log on stderr
            pass

    server = HTTPServer(("127.0.0.1", 0), Invoke)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


def loop(url: str, jpeg: bytes, seconds: float, warmup: int) -> dict:
    """Back-to-back requests for ``seconds`` after ``warmup``; counts and latencies."""
    import requests  # not in the runtime environment that serve_child runs in

    session = requests.Session()
    headers = {"Content-Type": "image/jpeg"}
    params = {"conf": str(harness.CONF)}
    versions, statuses, latencies = set(), {}, []

    def send() -> None:
        t0 = time.perf_counter()
        response = session.post(url, data=jpeg, headers=headers, params=params, timeout=60)
        latencies.append(time.perf_counter() - t0)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.ok:
            versions.add(response.json()["model_version"])

    for _ in range(warmup):
        send()
    latencies.clear()
    statuses.clear()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        send()
    elapsed = time.perf_counter() - started
    return {
        "url": url,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "statuses": {str(k): v for k, v in statuses.items()},
        "latency": harness.summary_ms(latencies)
        | {"p99_ms": round(harness.percentile(latencies, 0.99) * 1000, 2)},
        "model_versions": sorted(versions),
    }


def loopback(args: argparse.Namespace, jpeg: bytes) -> dict:
    work_dir = args.work_dir.resolve()
    models = harness.export_models(work_dir)
    with harness.moto_endpoint() as endpoint:
        harness.publish(models[EXPORT], endpoint, EXPORT)
        with harness.lambda_environment(endpoint, work_dir, 1, args.without_env) as env:
            return _serve_and_loop(args, jpeg, work_dir, env)


def _serve_and_loop(args: argparse.Namespace, jpeg: bytes, work_dir: Path, env: dict) -> dict:
    """Start the environment, loop against it, stop it."""
    port_file = work_dir / f"throughput-{os.getpid()}.port"
    port_file.unlink(missing_ok=True)
    command = [
        harness.LAMBDA_PYTHON,
        "-m",
        "benchmarks.serving_throughput",
        "--child",
        str(port_file),
    ]
    child = subprocess.Popen(command, env=env, cwd=harness.REPO, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not port_file.is_file() and child.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the environment did not start within 120 s")
            time.sleep(0.1)
        if child.poll() is not None:
            raise RuntimeError(f"the environment exited with {child.returncode}")
        url = f"http://127.0.0.1:{int(port_file.read_text())}/predict"
        return loop(url, jpeg, args.seconds, args.warmup)
    finally:
        child.terminate()
        child.wait(timeout=30)
        port_file.unlink(missing_ok=True)


def deployed(args: argparse.Namespace, jpeg: bytes) -> dict:
    from release.settings import DeploymentSettings
    from release.stack import api_base_url

    settings = DeploymentSettings()
    return loop(f"{api_base_url(settings)}/predict", jpeg, args.seconds, args.warmup) | {
        "stack": settings.stack_name
    }


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"# Serving throughput, {r['date']}",
        "",
        f"Back-to-back `POST /predict` of bus.jpg (raw `image/jpeg`, `conf={harness.CONF}`), "
        f"one request at a time, {r['warmup']} warm-up requests then {r['seconds']:g} s. "
        f"Loopback environment: "
        f"{', '.join(f'`{k}={v}`' for k, v in r['function_environment'].items())}. "
        f"Load average at the end (1/5/15 min): {r['load_average']}.",
        "",
        "| part | requests | requests/s | median | p90 | p99 | max | statuses |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for part, x in r["parts"].items():
        if "skipped" in x:
            lines.append(f"| {part} | skipped: {x['skipped']} | | | | | | |")
            continue
        lat = x["latency"]
        lines.append(
            f"| {part} | {x['requests']} | **{x['requests_per_s']:g}** | {lat['median_ms']:g} ms "
            f"| {lat['p90_ms']:g} ms | {lat['p99_ms']:g} ms | {lat['max_ms']:g} ms | "
            f"{x['statuses']} |"
        )
    lines += [
        "",
        "Loopback: one execution environment (the dynamic export) behind a one-at-a-time HTTP "
        "server on 127.0.0.1, the client in another process on the same 2 cores. Deployed: "
        "the stack's REST API through LocalStack's host Lambda executor.",
        "",
        machine_line(m, f"ONNX Runtime {m['onnxruntime']}"),
        "",
        harness.lambda_line(m),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--part", choices=["loopback", "deployed", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each loop")
    parser.add_argument("--warmup", type=int, default=5, help="requests before the loop")
    args = parser.parse_args(argv)
    if args.child:
        serve_child(args.child)
        return 0
    jpeg = harness.bus_jpeg_path().read_bytes()
    parts: dict[str, dict] = {}
    if args.part in ("loopback", "both"):
        parts["loopback"] = loopback(args, jpeg)
        print(f"loopback: {parts['loopback']['requests_per_s']} requests/s")
    if args.part in ("deployed", "both"):
        from release.stack import StackNotDeployed

        try:
            parts["deployed"] = deployed(args, jpeg)
            print(f"deployed: {parts['deployed']['requests_per_s']} requests/s")
        except StackNotDeployed as error:
            if args.part == "deployed":
                raise SystemExit(f"error: {error}") from error
            parts["deployed"] = {"skipped": str(error)}
            print(f"deployed: skipped ({error})")
    report = {
        "benchmark": "serving_throughput",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": harness.load_average(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "function_environment": harness.function_environment(args.without_env),
        "parts": parts,
        "machine": machine_info() | harness.versions(args.work_dir.resolve()),
    }
    path = write_results("serving_throughput", report, markdown(report))
    print(f"wrote {path} and .md")
    return 0 if all(set(p.get("statuses", {"200": 1})) == {"200"} for p in parts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
