"""A YOLO11 ONNX detector: one ONNX Runtime session plus :mod:`predict.processing`.

A fixed-size export (input ``[1, 3, H, W]``) gets every image letterboxed to ``imgsz``; an
export with dynamic height and width (``model.export(format="onnx", dynamic=True)``) gets
the minimum-padding letterbox, as Ultralytics' own predict does for it and for PyTorch
weights: a 4:3 photo at ``imgsz=(640, 640)`` runs at 640x480, a quarter less compute.

Example:
    >>> detector = Detector("model.onnx", {0: "circle", 1: "square"}, imgsz=(640, 640))
    >>> detector.predict(rgb_image, conf=0.25)
    [Detection(class_id=1, class_name='square', confidence=0.91, box=(12.0, 40.5, 230.1, 198.7),
               box_xywhn=(0.189, 0.187, 0.341, 0.247))]
    >>> detections, timings = detector.detect(rgb_image)  # timings: StageTimings, in ms
"""

import time
from os import PathLike

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field

from predict.processing import (
    Letterboxed,
    decode_yolo_output,
    letterbox,
    non_max_suppression,
    scale_boxes,
    to_input_tensor,
    xyxy2xywhn,
)


class Detection(BaseModel):
    """One detected object, in original-image pixels."""

    model_config = ConfigDict(frozen=True)

    class_id: int = Field(ge=0, description="Class index in the model's class names.")
    class_name: str
    confidence: float = Field(ge=0, le=1, description="Class score after NMS, in [0, 1].")
    box: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in original-image pixels, clipped to the image."
    )
    box_xywhn: tuple[float, float, float, float] = Field(
        description="Centre x, centre y, width, height, each divided by the original image's "
        "width or height: in [0, 1]."
    )


class StageTimings(BaseModel):
    """Milliseconds spent in each step of :meth:`Detector.detect` (``time.perf_counter``)."""

    preprocess: float = Field(ge=0, description="Letterbox and input tensor.")
    inference: float = Field(ge=0, description="ONNX Runtime session run.")
    postprocess: float = Field(
        ge=0, description="Decode, NMS, scaling back to image pixels, response objects."
    )


def create_session(path: str | PathLike[str], intra_op_threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session; one intra-op thread is fastest for yolo11n on Lambda.

    The memory pattern (allocations planned from the first run, per input shape) is off: it
    held about 23 MB more at peak for the same inference time
    (``benchmarks/serving_memory.py``); the memory arena stays on.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Detector:
    """Runs a YOLO11 ONNX export (input ``[1, 3, H, W]``, output ``[1, 4 + nc, N]``).

    Args:
        session_or_path: an ONNX Runtime session, or the path of a ``.onnx`` file.
        class_names: class id -> name; must cover the ``nc`` classes of the output.
        imgsz: the model input ``(height, width)`` in pixels; for a dynamic export the
            largest one (each side a multiple of ``stride``).
        intra_op_threads: ONNX Runtime intra-op threads when a path is given.
        dynamic: letterbox to the stride (``True``) or to ``imgsz`` (``False``); ``None``
            reads it from the ONNX input (height and width named, not numbers).
        stride: the model's largest stride; ``None`` reads Ultralytics' ``stride`` metadata
            from the ONNX file (32 when it has none).

    Raises:
        ValueError: ``imgsz`` differs from a fixed ONNX input, ``dynamic`` is asked of a
            fixed input, ``stride`` differs from the file's, or a dynamic ``imgsz`` is not
            a multiple of the stride.
    """

    def __init__(
        self,
        session_or_path: ort.InferenceSession | str | PathLike[str],
        class_names: dict[int, str],
        imgsz: tuple[int, int],
        intra_op_threads: int = 1,
        *,
        dynamic: bool | None = None,
        stride: int | None = None,
    ) -> None:
        if isinstance(session_or_path, ort.InferenceSession):
            self.session = session_or_path
        else:
            self.session = create_session(session_or_path, intra_op_threads)
        self.class_names = dict(class_names)
        self.imgsz = (int(imgsz[0]), int(imgsz[1]))
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        static_hw = model_input.shape[2:4]
        fixed = all(isinstance(d, int) for d in static_hw)
        if fixed and tuple(static_hw) != self.imgsz:
            raise ValueError(f"imgsz {self.imgsz} differs from the ONNX input {model_input.shape}")
        if dynamic and fixed:
            raise ValueError(f"dynamic letterbox asked of a fixed ONNX input {model_input.shape}")
        self.dynamic = not fixed if dynamic is None else dynamic
        metadata = self.session.get_modelmeta().custom_metadata_map
        file_stride = int(metadata["stride"]) if "stride" in metadata else None
        if stride is not None and file_stride is not None and stride != file_stride:
            raise ValueError(f"stride {stride} differs from the ONNX metadata's {file_stride}")
        self.stride = stride or file_stride or 32
        if self.dynamic and any(side % self.stride for side in self.imgsz):
            raise ValueError(f"imgsz {self.imgsz} is not a multiple of the stride {self.stride}")

    def letterbox(self, image: np.ndarray) -> Letterboxed:
        """The model input for ``image`` (``(H, W, 3)`` uint8): letterboxed to ``imgsz``, or
        for a dynamic export to the smallest multiple of the stride within it."""
        return letterbox(image, self.imgsz, auto=self.dynamic, stride=self.stride)

    def predict(
        self,
        image: np.ndarray,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: list[int] | None = None,
    ) -> list[Detection]:
        """Detect objects in one image: :meth:`detect` without the timings.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            conf: minimum confidence (exclusive).
            iou: NMS IoU threshold.
            max_det: maximum detections returned.
            classes: class ids to keep; ``None`` keeps all.

        Returns:
            Detections by descending confidence, boxes in ``image`` pixels.
        """
        return self.detect(image, conf, iou, max_det, classes)[0]

    def detect(
        self,
        image: np.ndarray,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: list[int] | None = None,
    ) -> tuple[list[Detection], StageTimings]:
        """Detect objects in one image and time each step; arguments as :meth:`predict`."""
        started = time.perf_counter()
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        boxed = self.letterbox(image).image
        tensor = to_input_tensor(boxed)
        preprocessed = time.perf_counter()
        (output, *_) = self.session.run(None, {self.input_name: tensor})
        inferred = time.perf_counter()
        boxes, scores = decode_yolo_output(output)
        if scores.shape[1] > len(self.class_names):
            raise ValueError(
                f"model predicts {scores.shape[1]} classes, {len(self.class_names)} names given"
            )
        boxes, confidences, class_ids = non_max_suppression(
            boxes, scores, conf, iou, max_det=max_det, classes=classes
        )
        boxes = scale_boxes(boxes, boxed.shape[:2], image.shape[:2])
        normalised = xyxy2xywhn(boxes, image.shape[:2])
        detections = [
            Detection(
                class_id=int(c),
                class_name=self.class_names.get(int(c), str(int(c))),
                confidence=float(s),
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                box_xywhn=(float(n[0]), float(n[1]), float(n[2]), float(n[3])),
            )
            for b, n, s, c in zip(boxes, normalised, confidences, class_ids, strict=True)
        ]
        done = time.perf_counter()
        timings = StageTimings(
            preprocess=(preprocessed - started) * 1000,
            inference=(inferred - preprocessed) * 1000,
            postprocess=(done - inferred) * 1000,
        )
        return detections, timings
