"""ONNX vs PyTorch: does the exported file, served by the Lambda's own code, answer like the
weights it came from?

Both sides see the same RGB pixels (decoded once by :func:`predict.images.decode_image`).
PyTorch runs Ultralytics' ``predict`` on the weights with the letterbox the export serves
with (fixed to the export size, or for a dynamic export padded only to the stride, i.e.
``rect``); ONNX runs :class:`predict.detector.Detector` (letterbox, decode, NMS and scaling
back in numpy, exactly what the Lambda serves). Detections are paired by class, then by the
smallest box difference; boxes are xyxy in original-image pixels.

Example:
    >>> stats = compare_models(weights, detector, images, settings)
    >>> stats.max_box_diff_px, stats.matched  # doctest: +SKIP
    (5e-05, 35)
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from predict.detector import Detection, Detector
from predict.images import decode_image
from training.settings import TrainingSettings
from training.ultralytics_env import import_ultralytics

CONF = 0.25
"""Confidence threshold of the comparison (the serving default)."""
IOU = 0.7
BORDERLINE = 1e-3
"""Detections within this of ``CONF`` may fall on either side of it: not counted as missing."""


@dataclass(frozen=True)
class ReferenceDetection:
    """One PyTorch detection: class id, confidence, xyxy box in original-image pixels."""

    class_id: int
    confidence: float
    box: tuple[float, float, float, float]


@dataclass
class ParityStats:
    """Running totals of a comparison over several images."""

    images: int = 0
    box_diffs: list[float] = field(default_factory=list)
    conf_diffs: list[float] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return len(self.box_diffs)

    @property
    def max_box_diff_px(self) -> float:
        return max(self.box_diffs, default=0.0)

    @property
    def max_conf_diff(self) -> float:
        return max(self.conf_diffs, default=0.0)


def _box_diff(a: Iterable[float], b: Iterable[float]) -> float:
    return float(np.abs(np.subtract(tuple(a), tuple(b))).max())


def match_detections(
    reference: list[ReferenceDetection],
    candidates: list[Detection],
    image_name: str,
    stats: ParityStats,
    conf: float = CONF,
) -> None:
    """Pair each clear reference detection with the closest same-class candidate.

    Adds the pairs' box and confidence differences to ``stats``, and a description of each
    detection only one side made (ignoring those within :data:`BORDERLINE` of ``conf``).
    """
    unused = list(candidates)
    for ref in reference:
        if ref.confidence < conf + BORDERLINE:
            continue
        same_class = [d for d in unused if d.class_id == ref.class_id]
        if not same_class:
            stats.unmatched.append(f"{image_name}: ONNX misses class {ref.class_id} at {ref.box}")
            continue
        best = min(same_class, key=lambda d: _box_diff(d.box, ref.box))
        unused.remove(best)
        stats.box_diffs.append(_box_diff(best.box, ref.box))
        stats.conf_diffs.append(abs(best.confidence - ref.confidence))
    for extra in unused:
        if extra.confidence >= conf + BORDERLINE:
            stats.unmatched.append(
                f"{image_name}: ONNX-only class {extra.class_id} {extra.confidence:.3f} at "
                f"{extra.box}"
            )


def pytorch_detections(
    model, image: np.ndarray, imgsz: tuple[int, int], rect: bool
) -> list[ReferenceDetection]:
    """Ultralytics ``predict`` of a loaded ``YOLO`` model on an RGB ``(H, W, 3)`` uint8 image,
    letterboxed as the ONNX model is: to ``imgsz`` (height, width), or with ``rect`` padded
    only to the stride within it (``LetterBox(auto=True)``)."""
    (result,) = model.predict(
        np.ascontiguousarray(image[..., ::-1]),  # Ultralytics takes numpy images as BGR
        imgsz=list(imgsz),
        conf=CONF,
        iou=IOU,
        max_det=300,
        rect=rect,
        device="cpu",
        verbose=False,
    )
    boxes = result.boxes
    return [
        ReferenceDetection(int(c), float(s), tuple(float(v) for v in b))
        for b, s, c in zip(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy(), strict=True)
    ]


def compare_models(
    weights: Path, detector: Detector, images: list[Path], settings: TrainingSettings
) -> ParityStats:
    """Run both models on ``images`` and compare their detections image by image."""
    import_ultralytics(settings)
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    stats = ParityStats()
    for path in images:
        image = decode_image(path.read_bytes())
        reference = pytorch_detections(model, image, detector.imgsz, rect=detector.dynamic)
        onnx = detector.predict(image, conf=CONF, iou=IOU, max_det=300)
        match_detections(reference, onnx, path.name, stats)
        stats.images += 1
    return stats
