"""The exported ONNX model, run through the Lambda's own code, answers like PyTorch.

Both sides see the same RGB pixels of held-out (non-square) test images. PyTorch runs
Ultralytics' ``predict`` on ``best.pt`` with ``rect=False``, i.e. the same fixed letterbox
to the export size (H, W) that the Lambda uses; ONNX runs ``predict.detector.Detector``
(letterbox, decode, NMS, scaling back in numpy). What may differ is float arithmetic and
resampling rounding, hence the tolerances below (measured on the smoke model: 35 matched
detections on 16 images, worst box difference 5e-5 px, worst confidence difference 1e-6).
"""

import numpy as np
import pytest
from PIL import Image

from predict.detector import Detection, Detector
from training.pipeline import PublishedModel
from training.settings import TrainingSettings
from training.ultralytics_env import import_ultralytics

pytestmark = pytest.mark.slow

CONF = 0.25
IOU = 0.7
BOX_TOLERANCE_PX = 0.5
"""Max per-coordinate difference of matched boxes, in original-image pixels. A one-pixel
slip in the letterbox padding shows here as about 2.5 px (the test images shrink ~2.5x)."""
CONF_TOLERANCE = 1e-3
"""Max difference of matched confidences; detections this close to CONF may drop out."""
MIN_DETECTIONS = 10
"""The smoke model must find objects for the comparison to mean anything."""


def _torch_detections(model, image: np.ndarray, imgsz: tuple[int, int]) -> list[tuple]:
    (result,) = model.predict(
        image[..., ::-1].copy(),  # Ultralytics takes numpy images as BGR
        imgsz=list(imgsz),
        conf=CONF,
        iou=IOU,
        max_det=300,
        rect=False,
        device="cpu",
        verbose=False,
    )
    boxes = result.boxes
    return [
        (int(c), float(s), tuple(float(v) for v in b))
        for b, s, c in zip(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy(), strict=True)
    ]


def _match(
    reference: list[tuple], candidates: list[Detection], image_name: str
) -> list[tuple[float, float]]:
    """Pair each confident reference detection with a same-class candidate; return diffs."""
    diffs = []
    unused = list(candidates)
    for class_id, confidence, box in reference:
        if confidence < CONF + CONF_TOLERANCE:
            continue
        same_class = [d for d in unused if d.class_id == class_id]
        assert same_class, f"{image_name}: ONNX misses class {class_id} at {box}"
        best = min(same_class, key=lambda d: float(np.abs(np.subtract(d.box, box)).max()))
        unused.remove(best)
        diffs.append(
            (float(np.abs(np.subtract(best.box, box)).max()), abs(best.confidence - confidence))
        )
    leftovers = [d for d in unused if d.confidence >= CONF + CONF_TOLERANCE]
    assert not leftovers, f"{image_name}: ONNX-only detections {leftovers}"
    return diffs


def test_onnx_through_lambda_code_matches_pytorch(
    smoke_run: PublishedModel, smoke_test_images, smoke_settings: TrainingSettings
) -> None:
    import_ultralytics(smoke_settings)
    from ultralytics import YOLO

    torch_model = YOLO(str(smoke_run.weights_path), task="detect")
    detector = Detector(smoke_run.onnx_path, smoke_run.class_names, smoke_run.imgsz)

    diffs: list[tuple[float, float]] = []
    for path in smoke_test_images:
        image = np.asarray(Image.open(path).convert("RGB"))
        assert image.shape[0] != image.shape[1]
        reference = _torch_detections(torch_model, image, smoke_run.imgsz)
        onnx = detector.predict(image, conf=CONF, iou=IOU, max_det=300)
        for detection in onnx:
            assert detection.class_name == smoke_run.class_names[detection.class_id]
        diffs.extend(_match(reference, onnx, path.name))

    assert len(diffs) >= MIN_DETECTIONS, f"only {len(diffs)} detections: model too weak"
    worst_box = max(d[0] for d in diffs)
    worst_conf = max(d[1] for d in diffs)
    assert worst_box <= BOX_TOLERANCE_PX, f"box differs by {worst_box:.2f} px"
    assert worst_conf <= CONF_TOLERANCE, f"confidence differs by {worst_conf:.4f}"
