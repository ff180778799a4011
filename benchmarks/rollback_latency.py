"""How long a rollback takes to reach callers: from ``ModelAlias.rollback()`` returning to
the first API response served by the other model version.

Runs against the deployed stack (``make deploy``; ``DETECTOR_*`` settings, defaults: the
dev stack on the host LocalStack) with at least two versions in the alias's history
(``make promote VERSION=1 && make promote VERSION=2``). Each sample rolls the alias back
(so the samples alternate between the last two versions), then polls ``GET /model/info``
until it reports the new version. Before each rollback it waits a random fraction of the
stack's ``AliasCacheTtlSeconds``, so rollbacks land at random points of the function's
alias cache, as a real one would. The alias is put back to what it was at the end.

    .venv/bin/python benchmarks/rollback_latency.py              # 20 samples
    .venv/bin/python benchmarks/rollback_latency.py --samples 5 --poll-interval 0.1

Writes ``benchmarks/results/rollback_latency-<UTC time>.json`` and ``.md`` (samples,
median/p90/max, and the machine it ran on).
"""

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from benchmarks.machine import RESULTS_DIR, machine_info, machine_line, write_results
from release.alias import NO_MODEL, ModelAlias
from release.api import PredictApi
from release.errors import ReleaseError
from release.settings import DeploymentSettings
from release.stack import StackNotDeployed, api_base_url

TTL_PARAMETER = "AliasCacheTtlSeconds"


class NotEnoughVersions(RuntimeError):
    """The alias has named fewer than two model versions: nothing to roll back to."""


@dataclass(frozen=True)
class Sample:
    """One rollback, in seconds after ``rollback()`` returned."""

    from_version: str
    to_version: str
    pause_before_s: float
    """Random wait before the rollback, to land it anywhere in the alias cache's TTL."""
    first_new_response_s: float
    """When the first response reporting ``to_version`` arrived."""
    first_new_request_sent_s: float
    """When that request was sent: the switch happened between this and the above."""
    requests_sent: int
    rollback_call_s: float
    """How long ``rollback()`` itself took (S3 checks, MLflow and SSM writes)."""


def stack_alias_ttl_s(settings: DeploymentSettings) -> float:
    """The deployed stack's ``AliasCacheTtlSeconds`` parameter (its value, not the default)."""
    cloudformation = settings.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=settings.stack_name)["Stacks"][0]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
    if TTL_PARAMETER not in values:
        raise StackNotDeployed(f"stack {settings.stack_name!r} has no {TTL_PARAMETER} parameter")
    return float(values[TTL_PARAMETER])


def check_two_versions(alias: ModelAlias) -> tuple[str, str]:
    """The current version and the one ``rollback()`` goes to.

    Raises:
        NotEnoughVersions: the history names fewer than two model versions.
    """
    current = alias.current()
    named = {change.model_version for change in alias.history()} - {NO_MODEL}
    if current == NO_MODEL or len(named) < 2:
        raise NotEnoughVersions(
            f"{alias.settings.alias_parameter} has named {sorted(named) or 'no version'} (now"
            f" {current}); a rollback needs two: make promote VERSION=1 && make promote VERSION=2"
        )
    return current, alias.previous_version()


def measure_one(
    alias: ModelAlias, api: PredictApi, pause_s: float, poll_interval_s: float, deadline_s: float
) -> Sample:
    """Roll back once and poll the API until the other version answers."""
    from_version = alias.current()
    time.sleep(pause_s)
    called = time.monotonic()
    to_version = alias.rollback().version
    returned = time.monotonic()
    sent = 0
    while (sent_at := time.monotonic()) - returned < deadline_s:
        sent += 1
        version = api.serving_version()
        received_at = time.monotonic()
        if version == to_version:
            return Sample(
                from_version=from_version,
                to_version=to_version,
                pause_before_s=round(pause_s, 4),
                first_new_response_s=round(received_at - returned, 4),
                first_new_request_sent_s=round(sent_at - returned, 4),
                requests_sent=sent,
                rollback_call_s=round(returned - called, 4),
            )
        time.sleep(poll_interval_s)
    raise TimeoutError(f"the API still did not serve version {to_version} after {deadline_s} s")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: always one of the measured values)."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def machine(settings: DeploymentSettings) -> dict[str, object]:
    """What the numbers were measured on, with the AWS endpoint and LocalStack version."""
    info = machine_info() | {"aws_endpoint": settings.aws_endpoint_url or "AWS"}
    if settings.aws_endpoint_url:
        try:
            health = requests.get(f"{settings.aws_endpoint_url}/_localstack/health", timeout=5)
            info["localstack_version"] = health.json().get("version")
        except (requests.RequestException, ValueError):
            info["localstack_version"] = None
    return info


def summarize(samples: list[Sample]) -> dict[str, float]:
    latencies = [s.first_new_response_s for s in samples]
    return {
        "median_s": round(statistics.median(latencies), 3),
        "p90_s": round(percentile(latencies, 0.9), 3),
        "max_s": round(max(latencies), 3),
        "min_s": round(min(latencies), 3),
    }


def markdown(report: dict) -> str:
    m, s = report["machine"], report["summary"]
    lines = [
        f"# Rollback latency, {report['date']}",
        "",
        f"Stack `{report['stack']}`, alias `{report['alias_parameter']}`, "
        f"`AliasCacheTtlSeconds` = {report['alias_cache_ttl_s']:g} s, "
        f"{len(report['samples'])} rollbacks between versions "
        f"{' and '.join(report['versions'])}, polling `GET /model/info` every "
        f"{report['poll_interval_s']:g} s. Time from `ModelAlias.rollback()` returning to the "
        "first API response from the other version:",
        "",
        "| median | p90 | max | min | AliasCacheTtlSeconds |",
        "| --- | --- | --- | --- | --- |",
        f"| {s['median_s']:.2f} s | {s['p90_s']:.2f} s | {s['max_s']:.2f} s | "
        f"{s['min_s']:.2f} s | {report['alias_cache_ttl_s']:g} s |",
        "",
        "| # | from | to | pause before | first new response | its request sent | requests "
        "| rollback() call |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {i} | {x.from_version} | {x.to_version} | {x.pause_before_s:.2f} s | "
        f"{x.first_new_response_s:.3f} s | {x.first_new_request_sent_s:.3f} s | "
        f"{x.requests_sent} | {x.rollback_call_s:.3f} s |"
        for i, x in enumerate((Sample(**d) for d in report["samples"]), start=1)
    ]
    lines += [
        "",
        machine_line(
            m,
            f"endpoint {m['aws_endpoint']}",
            *([f"LocalStack {m['localstack_version']}"] if m.get("localstack_version") else []),
        ),
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    settings = DeploymentSettings()
    alias = ModelAlias(settings)
    api = PredictApi(api_base_url(settings))
    ttl_s = stack_alias_ttl_s(settings)
    original, other = check_two_versions(alias)
    deadline_s = ttl_s + args.deadline_margin
    rng = random.Random(args.seed)
    print(
        f"{settings.stack_name}: serving {original}, rolling back and forth to {other}; "
        f"{TTL_PARAMETER}={ttl_s:g} s; {args.samples} samples",
        flush=True,
    )
    api.wait_for_version(original, deadline_s)
    samples: list[Sample] = []
    try:
        for i in range(args.samples):
            sample = measure_one(alias, api, rng.uniform(0, ttl_s), args.poll_interval, deadline_s)
            samples.append(sample)
            print(
                f"  {i + 1:>3}  {sample.from_version} -> {sample.to_version}: "
                f"{sample.first_new_response_s:.3f} s ({sample.requests_sent} requests)",
                flush=True,
            )
    finally:
        if alias.current() != original:
            alias.promote(original)
            api.wait_for_version(original, deadline_s)
        print(f"alias restored: {settings.alias_parameter} = {alias.current()}", flush=True)
    return {
        "benchmark": "rollback_latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "stack": settings.stack_name,
        "alias_parameter": settings.alias_parameter,
        "alias_cache_ttl_s": ttl_s,
        "versions": [original, other],
        "poll_interval_s": args.poll_interval,
        "seed": args.seed,
        "summary": summarize(samples),
        "samples": [asdict(sample) for sample in samples],
        "machine": machine(settings),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="rollbacks to time")
    parser.add_argument("--poll-interval", type=float, default=0.05, help="seconds between polls")
    parser.add_argument(
        "--deadline-margin", type=float, default=60.0, help="seconds past the TTL to give up"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pauses")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except (NotEnoughVersions, StackNotDeployed, ReleaseError) as error:
        print(f"rollback_latency: {error}", file=sys.stderr)
        return 2
    json_path = write_results("rollback_latency", report, markdown(report), args.output_dir)
    summary = report["summary"]
    print(
        f"median {summary['median_s']} s, p90 {summary['p90_s']} s, max {summary['max_s']} s"
        f" ({TTL_PARAMETER} {report['alias_cache_ttl_s']:g} s); wrote {json_path} and .md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
