"""The exported ONNX model, run through the Lambda's own code, answers like PyTorch.

:func:`training.parity.compare_models` on the held-out (non-square) test images, which the
export step's gate does not see (it compares on the validation split). What may differ is
float arithmetic and resampling rounding, hence the tolerances below (measured on the smoke
model: 35 matched detections on 16 images, worst box difference 5e-5 px, worst confidence
difference 1e-6). The pairing itself is tested on hand-made detections.
"""

import pytest

from predict.detector import Detection, Detector
from training.parity import BORDERLINE, CONF, ParityStats, ReferenceDetection, compare_models
from training.run import PipelineResult
from training.settings import TrainingSettings

BOX_TOLERANCE_PX = 0.5
"""A one-pixel slip in the letterbox padding shows as about 2.5 px (the images shrink ~2.5x)."""
CONF_TOLERANCE = 1e-3
MIN_DETECTIONS = 10
"""The smoke model must find objects for the comparison to mean anything."""


def _onnx(class_id: int, confidence: float, box: tuple) -> Detection:
    return Detection(
        class_id=class_id,
        class_name=str(class_id),
        confidence=confidence,
        box=box,
        box_xywhn=(0.5, 0.5, 0.1, 0.1),
    )


@pytest.mark.slow
def test_onnx_through_lambda_code_matches_pytorch(
    smoke_run: PipelineResult, smoke_test_images, smoke_settings: TrainingSettings
) -> None:
    exported = smoke_run.exported
    detector = Detector(exported.path, exported.class_names, exported.imgsz)
    stats = compare_models(smoke_run.trained.weights, detector, smoke_test_images, smoke_settings)
    assert stats.images == len(smoke_test_images) == 16
    assert stats.unmatched == []
    assert stats.matched >= MIN_DETECTIONS, f"only {stats.matched} detections: model too weak"
    assert stats.max_box_diff_px <= BOX_TOLERANCE_PX, f"boxes differ by {stats.max_box_diff_px}"
    assert stats.max_conf_diff <= CONF_TOLERANCE


def test_pairs_by_class_then_closest_box() -> None:
    from training.parity import match_detections

    reference = [
        ReferenceDetection(0, 0.9, (10.0, 10.0, 50.0, 50.0)),
        ReferenceDetection(1, 0.8, (100.0, 100.0, 150.0, 150.0)),
    ]
    candidates = [
        _onnx(1, 0.8004, (100.5, 100.0, 150.0, 150.0)),
        _onnx(0, 0.9001, (10.0, 12.0, 50.0, 50.0)),
    ]
    stats = ParityStats()
    match_detections(reference, candidates, "a.jpg", stats)
    assert stats.box_diffs == [2.0, 0.5]
    assert stats.conf_diffs == pytest.approx([1e-4, 4e-4])
    assert stats.unmatched == []


def test_detections_of_one_side_only_are_named_unless_borderline() -> None:
    from training.parity import match_detections

    reference = [
        ReferenceDetection(2, 0.7, (1.0, 2.0, 3.0, 4.0)),
        ReferenceDetection(0, CONF + BORDERLINE / 2, (5.0, 5.0, 9.0, 9.0)),
    ]
    candidates = [_onnx(1, 0.6, (1.0, 2.0, 3.0, 4.0))]
    stats = ParityStats()
    match_detections(reference, candidates, "b.jpg", stats)
    assert stats.matched == 0
    assert stats.unmatched == [
        "b.jpg: ONNX misses class 2 at (1.0, 2.0, 3.0, 4.0)",
        "b.jpg: ONNX-only class 1 0.600 at (1.0, 2.0, 3.0, 4.0)",
    ]
