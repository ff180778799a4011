"""predict.canary: the candidate parameter's value and the traffic split."""

import random

import pytest

from predict.canary import CanaryRoute


def test_none_means_no_canary() -> None:
    assert CanaryRoute.from_parameter("none") is None
    assert CanaryRoute.from_parameter(" none\n") is None


def test_value_round_trips() -> None:
    route = CanaryRoute(version="3", percent=12.5)
    assert route.to_parameter() == '{"version":"3","percent":12.5}'
    assert CanaryRoute.from_parameter(route.to_parameter()) == route


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"version": "3"}', "percent: Field required"),
        ('{"version": "3", "percent": 0}', "percent: Input should be greater than 0"),
        ('{"version": "3", "percent": 150}', "percent: Input should be less than or equal to 100"),
        ('{"version": "none", "percent": 5}', "'none' is not a model version"),
        ('{"version": "", "percent": 5}', "version: String should match pattern"),
        ('{"version": "3", "percent": 5, "extra": 1}', "extra: Extra inputs are not permitted"),
        ("3", "value: Input should be an object"),
        ("", "Invalid JSON"),
    ],
)
def test_malformed_values_are_refused_with_what_is_wrong(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match='expected "none" or') as error:
        CanaryRoute.from_parameter(value)
    assert problem in str(error.value)


@pytest.mark.parametrize("percent", [1, 10, 50, 99.5, 100])
def test_share_of_draws_taken_is_the_percentage(percent: float) -> None:
    route = CanaryRoute(version="3", percent=percent)
    draws = [i / 1000 for i in range(1000)]  # uniform over [0, 1)
    assert sum(route.takes(d) for d in draws) == pytest.approx(percent * 10, abs=1)
    seeded = random.Random(0)
    taken = sum(route.takes(seeded.random()) for _ in range(20_000)) / 200
    assert taken == pytest.approx(percent, abs=1.5)
