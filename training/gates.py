"""The checks a new model version must pass before it serves.

* Parity (export step): the ONNX file must answer like the PyTorch weights. A failure stops
  the run before anything is registered: a broken export is never a model version.
* Quality (register step): the version is registered and published either way; it is
  promoted only if its mAP50-95 is above the configured floor and not worse than the
  serving champion's by more than the configured margin.

Thresholds live in the config's ``gates`` section (:class:`training.config.GateParams`).
"""

from dataclasses import dataclass

from training.artifacts import ParityReport
from training.config import GateParams

QUALITY_METRIC = "mAP50-95"


class ParityGateFailed(Exception):
    """The exported ONNX model does not answer like the PyTorch weights; the message says how."""


def parity_failures(report: ParityReport, gates: GateParams) -> list[str]:
    """What makes ``report`` fail the parity gate (empty when it passes)."""
    failures = []
    if report.max_box_diff_px > gates.parity_box_tolerance_px:
        failures.append(
            f"boxes differ by up to {report.max_box_diff_px:.3f} px "
            f"(tolerance {gates.parity_box_tolerance_px} px)"
        )
    if report.map_diff > gates.parity_map_tolerance:
        failures.append(
            f"mAP50-95 ONNX {report.onnx_map50_95:.4f} vs PyTorch {report.pytorch_map50_95:.4f} "
            f"differ by {report.map_diff:.4f} (tolerance {gates.parity_map_tolerance})"
        )
    if report.unmatched:
        shown = "; ".join(report.unmatched[:5])
        failures.append(f"{len(report.unmatched)} detections made by one side only: {shown}")
    return failures


def check_parity(report: ParityReport, gates: GateParams) -> None:
    """Raise :class:`ParityGateFailed` naming every failed condition."""
    failures = parity_failures(report, gates)
    if failures:
        raise ParityGateFailed("ONNX parity gate failed: " + "; ".join(failures))


@dataclass(frozen=True)
class ChampionScore:
    """The version serving now and its published mAP50-95."""

    version: str
    map50_95: float


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the quality gate lets a new version serve, and why (in words)."""

    promote: bool
    reason: str


def decide_promotion(
    map50_95: float, champion: ChampionScore | None, gates: GateParams
) -> PromotionDecision:
    """Apply the quality floor and the no-regression margin to a new version's mAP50-95."""
    if map50_95 <= gates.min_map50_95:
        return PromotionDecision(
            False, f"mAP50-95 {map50_95:.4f} is not above the floor {gates.min_map50_95}"
        )
    if champion is None:
        return PromotionDecision(
            True, f"mAP50-95 {map50_95:.4f} is above the floor and no version serves yet"
        )
    lowest = champion.map50_95 - gates.max_regression
    if map50_95 < lowest:
        return PromotionDecision(
            False,
            f"mAP50-95 {map50_95:.4f} is worse than champion version {champion.version}'s "
            f"{champion.map50_95:.4f} by more than {gates.max_regression}",
        )
    return PromotionDecision(
        True,
        f"mAP50-95 {map50_95:.4f} is above the floor and within {gates.max_regression} of "
        f"champion version {champion.version}'s {champion.map50_95:.4f}",
    )
