"""The canary through the deployed stack: ``release.canary`` writes SSM and MLflow, the
function in LocalStack splits requests between champion and candidate.

Runs after test_deployed_api.py (file order), whose first tests need an unpromoted stack."""

import time
from collections import Counter
from pathlib import Path

import pytest
import ultralytics

from release.canary import Canary
from tests.integration.conftest import ALIAS_TTL_S

pytestmark = pytest.mark.integration

BUS = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
SWITCH_DEADLINE_S = ALIAS_TTL_S + 60
REQUESTS = 40


@pytest.fixture
def canary(api, alias, published) -> Canary:
    """Version 1 serves as champion, no canary runs; the canary is aborted afterwards."""
    canary = Canary(alias)
    if canary.status().route is not None:
        canary.abort()
    alias.promote(published[0].version)
    api.wait_for_version(published[0].version, SWITCH_DEADLINE_S)
    api.wait_for_candidate(None, SWITCH_DEADLINE_S)
    yield canary
    if canary.status().route is not None:
        canary.abort()


def served_by(api, count: int) -> Counter:
    """(model_version, model_alias) of ``count`` predictions, checked against the headers."""
    seen: Counter = Counter()
    for _ in range(count):
        response = api.post_predict(BUS.read_bytes(), "image/jpeg")
        assert response.status_code == 200, response.text
        body = response.json()
        answered = (body["model_version"], body["model_alias"])
        assert (response.headers["X-Model-Version"], response.headers["X-Model-Alias"]) == answered
        seen[answered] += 1
    return seen


def test_half_the_requests_go_to_the_candidate_until_abort(api, canary, published):
    champion, candidate = (model.version for model in published)

    canary.start(candidate, percent=50)
    api.wait_for_candidate(candidate, SWITCH_DEADLINE_S)
    during = served_by(api, REQUESTS)
    health = api.get("/health").json()

    canary.abort()
    api.wait_for_candidate(None, SWITCH_DEADLINE_S)
    time.sleep(ALIAS_TTL_S)  # every environment's cached candidate value has expired
    after = served_by(api, 10)

    assert set(during) == {(champion, "champion"), (candidate, "candidate")}
    # Binomial(40, 0.5): outside [8, 32] with probability below 1e-4.
    assert 8 <= during[(candidate, "candidate")] <= 32, during
    assert (health["candidate_version"], health["canary_percent"]) == (candidate, 50)
    assert after == Counter({(champion, "champion"): 10})


def test_canary_promotion_makes_the_candidate_answer_everything(api, alias, canary, published):
    champion, candidate = (model.version for model in published)
    canary.start(candidate, percent=10)
    api.wait_for_candidate(candidate, SWITCH_DEADLINE_S)

    canary.promote()
    api.wait_for_version(candidate, SWITCH_DEADLINE_S)
    api.wait_for_candidate(None, SWITCH_DEADLINE_S)
    time.sleep(ALIAS_TTL_S)

    assert served_by(api, 5) == Counter({(candidate, "champion"): 5})
    assert (alias.current(), alias.champion.get(), alias.candidate.get()) == (
        candidate,
        candidate,
        None,
    )
    assert alias.previous_version() == champion
