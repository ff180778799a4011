"""No credentials in the tree: detect-secrets over every file git tracks (or will, untracked
but not ignored), against the audited baseline tests/static/secrets.baseline.

The baseline holds the scanner's settings (every default plugin, plus one exclusion: the
LocalStack dummy credential ``test``) and the findings audited as not secret (sample event
bodies and ids). After such a false positive is added, refresh and audit it:

    git ls-files -z --cached --others --exclude-standard \
      | xargs -0 .venv/bin/detect-secrets scan --baseline tests/static/secrets.baseline
    .venv/bin/detect-secrets audit tests/static/secrets.baseline
"""

import json
from pathlib import Path
from typing import Any

import pytest
from detect_secrets import SecretsCollection
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.settings import transient_settings

from tests.static.support import ROOT, repo_files

BASELINE = ROOT / "tests" / "static" / "secrets.baseline"
# Secrets the scan may skip: the LocalStack/moto dummy credentials, and nothing else.
ALLOWED_EXCLUSIONS = {"^test$"}


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return json.loads(BASELINE.read_text())


def scan(baseline: dict[str, Any]) -> list[str]:
    """Findings in the repo's files that the baseline does not list as audited."""
    audited = {
        (filename, finding["type"], finding["hashed_secret"])
        for filename, findings in baseline["results"].items()
        for finding in findings
    }
    found = SecretsCollection()
    with transient_settings(baseline):
        for path in repo_files():
            if path != BASELINE:
                found.scan_file(str(path))
    new = []
    for filename, secret in found:
        name = str(Path(filename).relative_to(ROOT))
        if (name, secret.type, secret.secret_hash) not in audited:
            new.append(f"{name}:{secret.line_number}: {secret.type}")
    return new


def test_baseline_runs_every_detector_and_excludes_only_dummy_keys(
    baseline: dict[str, Any],
) -> None:
    used = {plugin["name"] for plugin in baseline["plugins_used"]}
    default = {plugin.__name__ for plugin in get_mapping_from_secret_type_to_class().values()}
    assert default <= used, f"detectors left out of the baseline: {sorted(default - used)}"
    excluded = {
        pattern
        for entry in baseline["filters_used"]
        if entry["path"] == "detect_secrets.filters.regex.should_exclude_secret"
        for pattern in entry["pattern"]
    }
    assert excluded <= ALLOWED_EXCLUSIONS, f"secrets excluded from the scan: {excluded}"
    real = [
        f"{name}: {finding['type']}"
        for name, findings in baseline["results"].items()
        for finding in findings
        if finding.get("is_secret") is not False
    ]
    assert not real, f"baseline findings not audited as false positives: {real}"


def test_no_unaudited_secrets_in_the_tree(baseline: dict[str, Any]) -> None:
    findings = scan(baseline)
    assert not findings, (
        "possible secrets (remove them; if one is a false positive, add it to the baseline "
        "as this module's docstring says):\n" + "\n".join(findings)
    )
