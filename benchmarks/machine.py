"""What a benchmark ran on: written next to every result in benchmarks/results/."""

import os
import platform
from pathlib import Path


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
