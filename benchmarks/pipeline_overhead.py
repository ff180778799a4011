"""What the pipeline costs on top of training: ``python -m training run`` against plain
``yolo train`` with the same data, model, epochs, image size and training arguments, and
the wall time of one tuning trial against ``yolo train`` of a trial's epochs, all in one run
on one machine.

Each measurement is a fresh process timed from start to exit (imports included on both
sides). The pipeline run does everything the job does (ZenML, MLflow, PyTorch and ONNX
evaluation, export, parity gate, registration, S3 publish) except promotion
(``promote=false``); it needs the models bucket reachable (the host LocalStack by default:
``make localstack-start``). The two are interleaved, ``--repeats`` times each.

    .venv/bin/python benchmarks/pipeline_overhead.py                         # train_demo
    .venv/bin/python benchmarks/pipeline_overhead.py -c configs/train_smoke.yaml --repeats 1

Writes ``benchmarks/results/pipeline_overhead-<UTC time>.json`` and ``.md``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from benchmarks.machine import RESULTS_DIR, machine_info, machine_line, write_results
from training.config import TrainConfig, load_config
from training.datasets import ensure_dataset
from training.settings import REPO_ROOT, TrainingSettings
from training.train import ultralytics_train_args
from training.ultralytics_env import import_ultralytics

GOAL_RATIO = 1.25
PIPELINE_OVERRIDES = ["tune.enabled=false", "promote=false"]
"""Tuning is timed per trial, not as overhead; nothing is promoted."""
VENV_BIN = Path(sys.executable).parent


def yolo_train_command(config: TrainConfig, data_yaml: Path, project: Path) -> list[str]:
    """``yolo train`` with the arguments :func:`training.train.train_model` passes."""
    args = {"model": config.train.model} | ultralytics_train_args(
        config, data_yaml, project / "train"
    )
    return [str(VENV_BIN / "yolo"), "train", *(f"{k}={v}" for k, v in args.items())]


def pipeline_command(config_path: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "training", "run", "-c", str(config_path), *overrides]


def timed(command: list[str], env: dict[str, str], log: Path) -> float:
    """Wall seconds of one command; its output goes to ``log``. Raises on failure."""
    started = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def study_file(tmp: Path, epochs: int, n_trials: int) -> Path:
    """``configs/optuna.yaml`` with the benchmark's trial epochs and count."""
    raw = yaml.safe_load((REPO_ROOT / "configs" / "optuna.yaml").read_text())
    raw.update(epochs=epochs, n_trials=n_trials)
    path = tmp / "optuna.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def trial_seconds(storage_url: str) -> list[float]:
    """Wall seconds of each finished trial of the one study in ``storage_url``."""
    import optuna

    (summary,) = optuna.get_all_study_summaries(storage_url)
    study = optuna.load_study(study_name=summary.study_name, storage=storage_url)
    return [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.trials
        if t.datetime_complete is not None and t.datetime_start is not None
    ]


def measure_tuning(args, config_path: Path, env: dict[str, str], tmp: Path) -> dict:
    """One tuning worker on a fresh study, and ``yolo train`` of one trial's epochs."""
    config = load_config(config_path, args.overrides)
    data_yaml = ensure_dataset(config.data, TrainingSettings()) / "data.yaml"
    trial = config.with_train_params(epochs=args.trial_epochs)
    reference = timed(yolo_train_command(trial, data_yaml, tmp / "yolo-trial"), env, tmp / "y.log")
    storage = f"sqlite:///{tmp / 'study.db'}"
    study = study_file(tmp, args.trial_epochs, args.trials)
    command = [
        sys.executable,
        "-m",
        "training",
        "tune",
        "-c",
        str(config_path),
        *args.overrides,
        f"tune.config={study}",
    ]
    total = timed(command, env | {"DETECTOR_OPTUNA_STORAGE_URL": storage}, tmp / "tune.log")
    trials = trial_seconds(storage)
    return {
        "trials": args.trials,
        "trial_epochs": args.trial_epochs,
        "worker_s": total,
        "trial_s": trials,
        "median_trial_s": statistics.median(trials),
        "yolo_train_same_epochs_s": reference,
        "trial_ratio": statistics.median(trials) / reference,
    }


def run(args: argparse.Namespace) -> dict:
    settings = TrainingSettings()
    config = load_config(args.config, args.overrides)
    import_ultralytics(settings)  # offline settings for the `yolo` CLI too (same config dir)
    data_yaml = ensure_dataset(config.data, settings) / "data.yaml"
    env = os.environ | {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": os.environ["YOLO_CONFIG_DIR"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    samples: dict[str, list[float]] = {"yolo_train": [], "pipeline": []}
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        for i in range(args.repeats):
            project = Path(tmp) / f"yolo-{i}"
            command = yolo_train_command(config, data_yaml, project)
            seconds = timed(command, env, Path(tmp) / f"yolo-{i}.log")
            samples["yolo_train"].append(seconds)
            print(f"  yolo train      {seconds:7.1f} s", flush=True)
            command = pipeline_command(args.config, [*args.overrides, *PIPELINE_OVERRIDES])
            seconds = timed(command, env, Path(tmp) / f"pipeline-{i}.log")
            samples["pipeline"].append(seconds)
            print(f"  pipeline run    {seconds:7.1f} s", flush=True)
        tuning = measure_tuning(args, args.config, env, Path(tmp)) if args.trials else None
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "tuning": tuning,
        "benchmark": "pipeline_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": str(Path(args.config).resolve().relative_to(REPO_ROOT)),
        "overrides": args.overrides,
        "epochs": config.train.epochs,
        "imgsz": config.train.imgsz,
        "samples_s": samples,
        "median_s": medians,
        "ratio": medians["pipeline"] / medians["yolo_train"],
        "goal_ratio": GOAL_RATIO,
        "machine": machine_info() | {"load_average": os.getloadavg()},
    }


def markdown(report: dict) -> str:
    m, med = report["machine"], report["median_s"]
    lines = [
        f"# Pipeline overhead, {report['date']}",
        "",
        f"`{report['config']}` {' '.join(report['overrides'])} ({report['epochs']} epochs, "
        f"imgsz {report['imgsz']}), {len(report['samples_s']['pipeline'])} runs each, "
        "interleaved, fresh process each, wall time:",
        "",
        "| what | median | runs |",
        "| --- | --- | --- |",
        f"| `yolo train` | {med['yolo_train']:.1f} s | "
        + ", ".join(f"{v:.1f}" for v in report["samples_s"]["yolo_train"])
        + " |",
        f"| `python -m training run` (tuning and promotion off) | {med['pipeline']:.1f} s | "
        + ", ".join(f"{v:.1f}" for v in report["samples_s"]["pipeline"])
        + " |",
        "",
        f"Ratio pipeline / yolo train: **{report['ratio']:.2f}** (goal <= {GOAL_RATIO}).",
        "",
        *tuning_lines(report["tuning"]),
        machine_line(m, f"load average at the end {m['load_average'][0]:.2f}"),
        "",
    ]
    return "\n".join(lines)


def tuning_lines(tuning: dict | None) -> list[str]:
    if tuning is None:
        return []
    trials = ", ".join(f"{v:.1f}" for v in tuning["trial_s"])
    return [
        f"Tuning: one worker, {tuning['trials']} trials of {tuning['trial_epochs']} epochs "
        f"(`configs/optuna.yaml` otherwise), {tuning['worker_s']:.1f} s for the worker process. "
        f"Per trial (Optuna's start to complete): median **{tuning['median_trial_s']:.1f} s** "
        f"({trials}); `yolo train` of the same epochs {tuning['yolo_train_same_epochs_s']:.1f} s; "
        f"ratio {tuning['trial_ratio']:.2f}.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", type=Path, default=REPO_ROOT / "configs/train_demo.yaml")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, interleaved")
    parser.add_argument("--trials", type=int, default=3, help="tuning trials to time (0: none)")
    parser.add_argument("--trial-epochs", type=int, default=3, help="epochs per tuning trial")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    report = run(args)
    json_path = write_results("pipeline_overhead", report, markdown(report), args.output_dir)
    print(f"ratio {report['ratio']:.2f} (goal <= {GOAL_RATIO}); wrote {json_path} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
