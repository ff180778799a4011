"""The parity and quality gates decide on computed numbers; each condition can fail alone."""

import re

import pytest

from training.artifacts import ParityReport
from training.config import GateParams
from training.gates import (
    ChampionScore,
    ParityGateFailed,
    check_parity,
    decide_promotion,
    parity_failures,
)

GATES = GateParams(
    parity_box_tolerance_px=1.0, parity_map_tolerance=0.01, min_map50_95=0.3, max_regression=0.02
)


def _report(**changes) -> ParityReport:
    fields = {
        "images": 16,
        "matched": 30,
        "max_box_diff_px": 0.2,
        "max_conf_diff": 1e-4,
        "unmatched": [],
        "onnx_map50_95": 0.51,
        "pytorch_map50_95": 0.515,
    }
    return ParityReport(**(fields | changes))


def test_a_close_export_passes() -> None:
    assert parity_failures(_report(), GATES) == []
    check_parity(_report(), GATES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_box_diff_px": 1.5}, r"boxes differ by up to 1\.500 px \(tolerance 1\.0 px\)"),
        ({"onnx_map50_95": 0.49}, r"differ by 0\.0250 \(tolerance 0\.01\)"),
        ({"unmatched": ["x.jpg: ONNX misses class 1"]}, "1 detections made by one side only"),
    ],
)
def test_each_parity_condition_fails_the_gate(changes: dict, message: str) -> None:
    with pytest.raises(ParityGateFailed, match=message):
        check_parity(_report(**changes), GATES)


def test_no_detections_compares_the_maps_only() -> None:
    assert parity_failures(_report(matched=0, max_box_diff_px=0.0), GATES) == []


@pytest.mark.parametrize(
    ("score", "champion", "promote", "reason"),
    [
        (0.25, None, False, r"not above the floor 0\.3"),
        (0.30, None, False, r"not above the floor 0\.3"),
        (0.31, None, True, "no version serves yet"),
        (0.40, ChampionScore("3", 0.43), False, r"worse than champion version 3's 0\.4300"),
        (0.41, ChampionScore("3", 0.43), True, r"within 0\.02 of champion version 3's"),
        (0.50, ChampionScore("3", 0.43), True, "champion version 3"),
    ],
)
def test_quality_gate(
    score: float, champion: ChampionScore | None, promote: bool, reason: str
) -> None:
    decision = decide_promotion(score, champion, GATES)
    assert decision.promote is promote
    assert re.search(reason, decision.reason), decision.reason
