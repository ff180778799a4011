"""Known vulnerabilities in the pinned dependencies (pip-audit, offline resolution).

Policy: a known vulnerability in what the Lambda ships (layers/runtime/requirements.txt, the
function's only third-party packages, and their dependencies as uv.lock resolves them) fails
the test; one anywhere else in uv.lock (training, tooling, tests) is reported as a warning.

pip-audit asks PyPI's vulnerability data (the JSON API per release), or OSV where PyPI's is
unreachable. Where neither answers, the tests skip and say so.
"""

import json
import re
import shutil
import subprocess
import tomllib
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.static.support import ROOT, tool

LAMBDA_REQUIREMENTS = [ROOT / "layers" / "runtime" / "requirements.txt"]
PIP_AUDIT_TIMEOUT = 300


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line."""
    found = {}
    for line in requirements.read_text().splitlines():
        if match := re.match(
            r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)", line
        ):
            found[canonical(match.group(1))] = match.group(3)
    return found


def lambda_packages() -> set[str]:
    """The Lambda's requirements and everything they depend on in uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    dependencies = {
        canonical(package["name"]): [canonical(d["name"]) for d in package.get("dependencies", [])]
        for package in lock["package"]
    }
    todo = [name for path in LAMBDA_REQUIREMENTS for name in pins(path)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += dependencies.get(name, [])
    return seen


def answers(request: urllib.request.Request) -> str | None:
    """None if the service answers 200, else why not."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except OSError as error:
        return str(error)


@pytest.fixture(scope="module")
def vulnerability_service() -> str:
    """pip-audit's service that answers from here: 'pypi', else 'osv', else the tests skip."""
    name, version = next(pin for path in LAMBDA_REQUIREMENTS for pin in pins(path).items())
    pypi = f"https://pypi.org/pypi/{name}/{version}/json"
    why_not_pypi = answers(urllib.request.Request(pypi))
    if why_not_pypi is None:
        return "pypi"
    osv = "https://api.osv.dev/v1/query"
    query = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
    why_not_osv = answers(
        urllib.request.Request(
            osv, data=json.dumps(query).encode(), headers={"Content-Type": "application/json"}
        )
    )
    if why_not_osv is None:
        return "osv"
    pytest.skip(f"no vulnerability service reachable: {pypi}: {why_not_pypi}; {osv}: {why_not_osv}")


def audit(requirements: Path, service: str) -> dict[str, Any]:
    """pip-audit's JSON report on a fully pinned requirements file (no resolution, no pip)."""
    executable = tool("pip-audit")
    assert executable, "pip-audit is not installed (a dev dependency: uv sync)"
    command = [executable, "--disable-pip", "--no-deps", "-r", str(requirements)]
    command += ["--vulnerability-service", service, "--format", "json"]
    command += ["--progress-spinner", "off", "--timeout", "20"]
    try:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=PIP_AUDIT_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip-audit on {requirements.name} took over {PIP_AUDIT_TIMEOUT} s")
    # Exit status 1 means vulnerabilities were found; the JSON says which.
    assert result.stdout.strip(), f"pip-audit failed:\n{result.stderr}"
    return json.loads(result.stdout)


def vulnerabilities(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(package, 'name version: id (fixed in ...)') for each known vulnerability."""
    return [
        (
            canonical(dependency["name"]),
            f"{dependency['name']} {dependency['version']}: {vuln['id']}"
            f" (fixed in {', '.join(vuln['fix_versions']) or 'no release yet'})",
        )
        for dependency in report["dependencies"]
        for vuln in dependency.get("vulns", [])
    ]


def skipped(report: dict[str, Any]) -> list[str]:
    return [d["skip_reason"] for d in report["dependencies"] if "skip_reason" in d]


def require_audited(report: dict[str, Any], requirements: Path) -> None:
    """Skip when the service could audit none of the file's packages."""
    reasons = skipped(report)
    if reasons and len(reasons) == len(report["dependencies"]):
        pytest.skip(f"pip-audit could audit nothing in {requirements.name}: {reasons[0]}")


@pytest.mark.parametrize("requirements", LAMBDA_REQUIREMENTS, ids=lambda p: p.parent.name)
def test_lambda_requirements_have_no_known_vulnerabilities(
    requirements: Path, vulnerability_service: str
) -> None:
    report = audit(requirements, vulnerability_service)
    require_audited(report, requirements)
    found = [line for _, line in vulnerabilities(report)]
    assert not found, f"known vulnerabilities in {requirements.relative_to(ROOT)}:\n" + "\n".join(
        found
    )
    assert not skipped(report), "not audited:\n" + "\n".join(skipped(report))


def test_locked_requirements_have_no_known_vulnerabilities_in_the_lambda(
    vulnerability_service: str, tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: cannot export uv.lock")
    locked = tmp_path / "locked-requirements.txt"
    subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "-q", "-o", str(locked)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    report = audit(locked, vulnerability_service)
    require_audited(report, locked)
    shipped = lambda_packages()
    found = vulnerabilities(report)
    others = [line for package, line in found if package not in shipped]
    if others:
        warnings.warn(
            "known vulnerabilities in uv.lock outside the Lambda (reported, not failed):\n"
            + "\n".join(others),
            stacklevel=1,
        )
    if skipped(report):
        warnings.warn("not audited:\n" + "\n".join(skipped(report)), stacklevel=1)
    in_lambda = [line for package, line in found if package in shipped]
    assert not in_lambda, "known vulnerabilities in what the Lambda ships:\n" + "\n".join(in_lambda)
