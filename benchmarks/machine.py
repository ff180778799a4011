"""What a benchmark ran on, and where its results go: ``benchmarks/results/``, the machine
written next to every result."""

import json
import os
import platform
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, object]:
    """Platform, CPU model, core count, memory (GiB) and Python version of this machine.

    CPU model and memory come from /proc on Linux; elsewhere the CPU is what ``platform``
    knows and memory is None.
    """
    cpu_model = platform.processor() or platform.machine()
    memory_gib = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu_model = next(
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        )
        meminfo = Path("/proc/meminfo").read_text().split()
        memory_gib = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass  # not Linux: keep what platform knows
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
    }


def machine_line(info: dict[str, object], *extras: str) -> str:
    """The Markdown line naming the machine of :func:`machine_info`, then ``extras``."""
    parts = [
        str(info["platform"]),
        f"{info['cpu_model']} ({info['cpu_cores']} cores)",
        f"{info['memory_gib']} GiB",
        f"Python {info['python']}",
        *extras,
    ]
    return "Machine: " + ", ".join(parts) + "."


def write_results(name: str, report: dict, markdown: str, output_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<output_dir>/<name>-<report's UTC date>.json`` and ``.md``; the JSON path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{report['date'].replace(':', '').replace('+0000', 'Z')}"
    json_path = output_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    json_path.with_suffix(".md").write_text(markdown)
    return json_path
