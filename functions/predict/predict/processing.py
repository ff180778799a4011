"""Pre- and post-processing for YOLO11 ONNX detectors, in plain numpy (no torch, no OpenCV).

This is the only implementation in the project: the Lambda serves with it and the training
side's ONNX-vs-PyTorch parity check imports it. Each function follows the Ultralytics 8.4
code named in its docstring, so the ONNX model answers as ``YOLO("model.onnx").predict``.

Conventions: images are ``(H, W, 3)`` uint8 RGB; shapes are ``(height, width)``; boxes are
float32 ``(N, 4)`` ``x1, y1, x2, y2`` in pixels of the image they refer to.

Example:
    >>> lb = letterbox(image, (640, 640))
    >>> out = session.run(None, {"images": to_input_tensor(lb.image)})[0]
    >>> boxes, scores = decode_yolo_output(out)
    >>> boxes, confidences, class_ids = non_max_suppression(boxes, scores, 0.25, 0.7)
    >>> boxes = scale_boxes(boxes, lb.image.shape[:2], image.shape[:2])
"""

import functools
from dataclasses import dataclass

import numpy as np

PAD_VALUE = 114
"""Grey value of letterbox padding (Ultralytics ``LetterBox.padding_value``)."""


@dataclass(frozen=True)
class Letterboxed:
    """A letterboxed image and how it was made.

    Attributes:
        image: ``(new_h, new_w, 3)`` uint8, the model input before normalisation.
        gain: ``(gain_y, gain_x)``, resized size over original size per axis (equal up to
            the rounding of the resized sides).
        pad: ``(pad_top, pad_left)`` in pixels of ``image``.
    """

    image: np.ndarray
    gain: tuple[float, float]
    pad: tuple[int, int]


_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS


def _linear_coefficients(
    src: int, dst: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and fixed-point weights of OpenCV's ``INTER_LINEAR`` along one axis."""
    scale = 1.0 / (dst / src)
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)  # half-pixel centres
    i0 = np.floor(pos).astype(np.intp)
    frac = pos - i0.astype(np.float32)
    before, after = i0 < 0, i0 >= src - 1
    frac[before | after] = 0.0
    i0[before] = 0
    i0[after] = src - 1
    i1 = np.minimum(i0 + 1, src - 1)
    w1 = np.rint(frac * np.float32(_COEF_SCALE)).astype(np.int32)
    w0 = np.rint((np.float32(1.0) - frac) * np.float32(_COEF_SCALE)).astype(np.int32)
    return i0, i1, w0, w1


@dataclass(frozen=True)
class _ResizePlan:
    """Index and weight tables of one ``(src_h, src_w, channels) -> (dst_h, dst_w)`` resize.

    ``rows`` are the source rows the vertical pass reads (``None``: all of them, which is
    the case unless shrinking by more than 2); ``top``/``bottom`` index into them. Columns
    are flattened with the channels, so the horizontal pass gathers along one contiguous
    axis. Each 11-bit column weight is split as ``16 * hi + lo`` (see :func:`resize_bilinear`).
    """

    rows: np.ndarray | None
    top: np.ndarray
    bottom: np.ndarray
    w_top: np.ndarray
    w_bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    hi_left: np.ndarray
    lo_left: np.ndarray
    hi_right: np.ndarray
    lo_right: np.ndarray


@functools.lru_cache(maxsize=64)
def _resize_plan(src_h: int, src_w: int, channels: int, dst_h: int, dst_w: int) -> _ResizePlan:
    y0, y1, wy0, wy1 = _linear_coefficients(src_h, dst_h)
    x0, x1, wx0, wx1 = _linear_coefficients(src_w, dst_w)
    rows, local = np.unique(np.concatenate([y0, y1]), return_inverse=True)
    subset = rows.size < src_h
    channel = np.arange(channels)
    wx0, wx1 = (
        np.repeat(wx0, channels).astype(np.uint16),
        np.repeat(wx1, channels).astype(np.uint16),
    )
    tables = {
        "rows": rows if subset else None,
        "top": local[:dst_h] if subset else y0,
        "bottom": local[dst_h:] if subset else y1,
        "w_top": wy0[:, None],
        "w_bottom": wy1[:, None],
        "left": (x0[:, None] * channels + channel).ravel(),
        "right": (x1[:, None] * channels + channel).ravel(),
        "hi_left": wx0 >> 4,
        "lo_left": wx0 & 15,
        "hi_right": wx1 >> 4,
        "lo_right": wx1 & 15,
    }
    for table in tables.values():
        if table is not None:
            table.setflags(write=False)  # shared by every call with these shapes
    return _ResizePlan(**tables)


def resize_bilinear(
    image: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """Resize like ``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)``.

    Ultralytics letterboxes with OpenCV; Pillow's bilinear filter antialiases when shrinking
    and gives a visibly different model input. This reproduces OpenCV's 11-bit fixed-point
    arithmetic (``HResizeLinear``, then ``VResizeLinearVec_32s8u`` in ``imgproc/resize.cpp``):
    bit-exact when shrinking, at most 1 grey level off when enlarging. The horizontal pass
    runs only on the source rows the vertical pass reads, in 16-bit integers; index and
    weight tables are cached per pair of shapes.

    Args:
        image: ``(H, W, C)`` uint8.
        size: target ``(height, width)``.
        out: optional ``(height, width, C)`` uint8 array to write the result into (a view
            is fine, e.g. the inside of a letterbox canvas).

    Returns:
        ``(height, width, C)`` uint8: ``out`` when given.
    """
    h, w = size
    src_h, src_w, channels = image.shape
    plan = _resize_plan(src_h, src_w, channels, h, w)
    src = np.ascontiguousarray(image).reshape(src_h, src_w * channels)
    if plan.rows is not None:
        src = src[plan.rows]
    # Horizontal pass: OpenCV sums a * w0 + b * w1 in int32 and the vertical pass first drops
    # 4 bits. With w = 16 * hi + lo that is a * hi0 + b * hi1 + (a * lo0 + b * lo1 >> 4),
    # every term below 2^16 (hi0 + hi1 <= 128): uint16 halves the memory traffic.
    left, right = np.take(src, plan.left, axis=1), np.take(src, plan.right, axis=1)
    rows = np.multiply(left, plan.hi_left)
    low = np.multiply(left, plan.lo_left)
    term = np.multiply(right, plan.hi_right)
    rows += term
    low += np.multiply(right, plan.lo_right, out=term)
    low >>= 4
    rows += low
    rows = rows.view(np.int16)  # < 2^15: the int16 rows OpenCV packs
    # Vertical pass (mul_hi = >> 16 per row, then rounding +2 >> 2), in int32.
    result = np.multiply(np.take(rows, plan.top, axis=0), plan.w_top)
    result >>= 16
    term = np.multiply(np.take(rows, plan.bottom, axis=0), plan.w_bottom)
    term >>= 16
    result += term
    result += 2
    # Rows are < 2^15 and the two weights sum to at most 2049: the result is <= 255, as
    # OpenCV's saturating pack would make it, without clipping.
    result >>= 2
    result = result.reshape(h, w, channels)
    if out is None:
        return result.astype(np.uint8)
    np.copyto(out, result, casting="unsafe")
    return out


def letterbox(
    image: np.ndarray, new_shape: tuple[int, int], auto: bool = False, stride: int = 32
) -> Letterboxed:
    """Resize keeping the aspect ratio, then pad with grey 114, centred.

    Follows Ultralytics ``data.augment.LetterBox`` with ``scaleup=True, center=True``: gain
    ``r = min(new_h / h, new_w / w)``, resized sides ``round(w * r), round(h * r)`` (at
    least 1), padding split as ``round(d / 2 - 0.1)`` before and ``round(d / 2 + 0.1)``
    after. With ``auto=False`` (a fixed-size ONNX model) the output is ``new_shape``; with
    ``auto=True`` (PyTorch, or an ONNX export with dynamic height and width) each side is
    padded only up to the next multiple of ``stride``: the minimum-padding letterbox, e.g.
    a 4:3 photo at ``new_shape=(640, 640)`` becomes 640x480, not 640x640.

    Args:
        image: ``(H, W, 3)`` uint8 (channel order is kept).
        new_shape: target ``(height, width)`` in pixels: the model input, or with ``auto``
            the largest one.
        auto: pad to a multiple of ``stride`` instead of to ``new_shape``.
        stride: the model's largest stride in pixels (32 for YOLO11).

    Returns:
        The padded uint8 image with its per-axis gain and padding.
    """
    h, w = image.shape[:2]
    new_h, new_w = new_shape
    r = min(new_h / h, new_w / w)
    unpad_h, unpad_w = max(round(h * r), 1), max(round(w * r), 1)
    dh, dw = new_h - unpad_h, new_w - unpad_w
    if auto:
        dh, dw = dh % stride, dw % stride
    top, left = round(dh / 2 - 0.1), round(dw / 2 - 0.1)
    out = np.empty((unpad_h + dh, unpad_w + dw, image.shape[2]), dtype=np.uint8)
    bottom, right = top + unpad_h, left + unpad_w
    for border in (out[:top], out[bottom:], out[top:bottom, :left], out[top:bottom, right:]):
        border.fill(PAD_VALUE)  # only the padding: the inside is written once, below
    inside = out[top:bottom, left:right]
    if (unpad_h, unpad_w) == (h, w):
        inside[...] = image
    else:
        resize_bilinear(image, (unpad_h, unpad_w), out=inside)
    return Letterboxed(image=out, gain=(unpad_h / h, unpad_w / w), pad=(top, left))


def to_input_tensor(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, H, W)`` float32 in [0, 1], the ONNX input layout.

    Divides by 255 (not multiplies by 1/255) to round exactly as Ultralytics does.
    """
    out = np.empty((1, image.shape[2], *image.shape[:2]), dtype=np.float32)
    # One pass: each uint8 is cast to float32, then divided in float32, as astype then /.
    np.divide(image.transpose(2, 0, 1), np.float32(255.0), out=out[0], dtype=np.float32)
    return out


def xywh2xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre ``(cx, cy, w, h)`` -> corners ``(x1, y1, x2, y2)``; shape ``(..., 4)``, dtype kept."""
    out = np.empty_like(boxes)
    half = boxes[..., 2:] / 2
    out[..., :2] = boxes[..., :2] - half
    out[..., 2:] = boxes[..., :2] + half
    return out


def xyxy2xywhn(boxes: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Corners ``(x1, y1, x2, y2)`` in pixels -> centre ``(cx, cy, w, h)`` normalised by the
    image width and height (Ultralytics ``Boxes.xywhn``), clipped to [0, 1].

    Args:
        boxes: float ``(N, 4)`` xyxy in pixels of an image of ``image_shape``.
        image_shape: ``(height, width)`` of that image.

    Returns:
        float ``(N, 4)``, same dtype as ``boxes``.
    """
    h, w = image_shape[:2]
    out = np.empty_like(boxes)
    out[:, 0] = (boxes[:, 0] + boxes[:, 2]) / 2 / w
    out[:, 1] = (boxes[:, 1] + boxes[:, 3]) / 2 / h
    out[:, 2] = (boxes[:, 2] - boxes[:, 0]) / w
    out[:, 3] = (boxes[:, 3] - boxes[:, 1]) / h
    return out.clip(0, 1)


def decode_yolo_output(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a YOLO11 detect head's raw output into boxes and class scores.

    Args:
        output: float32 ``(1, 4 + nc, N)`` or ``(4 + nc, N)``; rows ``cx, cy, w, h`` in
            model-input pixels, then one sigmoid score per class (no objectness).

    Returns:
        boxes: float32 ``(N, 4)`` xyxy in model-input pixels.
        scores: float32 ``(N, nc)`` in [0, 1].
    """
    if output.ndim == 3:
        if output.shape[0] != 1:
            raise ValueError(f"expected a batch of one, got output shape {output.shape}")
        output = output[0]
    if output.ndim != 2 or output.shape[0] < 5:
        raise ValueError(f"expected output shape (1, 4 + nc, N), got {output.shape}")
    predictions = output.T  # (N, 4 + nc)
    return xywh2xyxy(predictions[:, :4]), predictions[:, 4:]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: keep the best box, drop the rest overlapping it by IoU > ``iou_threshold``.

    Same rule as ``torchvision.ops.nms`` / Ultralytics ``TorchNMS.nms``.

    Args:
        boxes: float ``(N, 4)`` xyxy.
        scores: float ``(N,)``.
        iou_threshold: IoU above which a lower-scored box is suppressed.

    Returns:
        int64 indices of the kept boxes, by descending score.
    """
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def non_max_suppression(
    boxes: np.ndarray,
    scores: np.ndarray,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.7,
    max_det: int = 300,
    classes: list[int] | None = None,
    max_nms: int = 30000,
    max_wh: int = 7680,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-wise NMS over one image's candidates.

    Follows Ultralytics ``utils.nms.non_max_suppression`` (``agnostic=False``,
    ``multi_label=False``): each box takes its best class; boxes with that score
    ``> conf_threshold`` (and in ``classes`` if given) remain; at most ``max_nms`` of the best
    go through greedy NMS, with boxes shifted by ``class_id * max_wh`` so classes never
    suppress each other; the best ``max_det`` survivors are returned.

    Args:
        boxes: float32 ``(N, 4)`` xyxy in model-input pixels (from :func:`decode_yolo_output`).
        scores: float32 ``(N, nc)`` class scores.
        conf_threshold: minimum confidence, exclusive, in [0, 1].
        iou_threshold: IoU above which a box of the same class is suppressed, in [0, 1].
        max_det: maximum detections kept.
        classes: class ids to keep; ``None`` keeps all.
        max_nms: maximum candidates passed to NMS.
        max_wh: per-class coordinate offset in pixels (larger than any input side).

    Returns:
        boxes: float32 ``(K, 4)`` xyxy; confidences: float32 ``(K,)``; class_ids: int64
        ``(K,)``; ordered by descending confidence.
    """
    if not 0 <= conf_threshold <= 1:
        raise ValueError(f"conf_threshold must be in [0, 1], got {conf_threshold}")
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    # The best class of the few candidates above the threshold, not of every anchor.
    confidences = scores.max(axis=1, initial=-np.inf)
    keep = confidences > conf_threshold
    boxes, confidences = boxes[keep], confidences[keep]
    class_ids = scores[keep].argmax(axis=1)
    if classes is not None:
        wanted = np.isin(class_ids, np.asarray(classes))
        boxes, confidences, class_ids = boxes[wanted], confidences[wanted], class_ids[wanted]
    if boxes.shape[0] > max_nms:
        best = np.argsort(-confidences, kind="stable")[:max_nms]
        boxes, confidences, class_ids = boxes[best], confidences[best], class_ids[best]
    offsets = (class_ids * max_wh).astype(boxes.dtype)[:, None]
    kept = nms(boxes + offsets, confidences, iou_threshold)[:max_det]
    return boxes[kept], confidences[kept], class_ids[kept].astype(np.int64)


def scale_boxes(
    boxes: np.ndarray, input_shape: tuple[int, int], image_shape: tuple[int, int]
) -> np.ndarray:
    """Map xyxy boxes from letterboxed model-input pixels back to original-image pixels.

    Follows Ultralytics ``utils.ops.scale_boxes`` without ``ratio_pad``: the gain and padding
    are recomputed from the two shapes exactly as :func:`letterbox` made them, the padding
    is subtracted, each axis is divided by its own gain, and boxes are clipped to the image
    (``clip_boxes``: x to [0, W], y to [0, H]).

    Args:
        boxes: float ``(N, 4)`` xyxy in pixels of the ``input_shape`` image (not modified).
        input_shape: model input ``(height, width)``.
        image_shape: original image ``(height, width)``.

    Returns:
        float ``(N, 4)`` xyxy in original-image pixels, same dtype as ``boxes``.
    """
    h0, w0 = image_shape[:2]
    gain = min(input_shape[0] / h0, input_shape[1] / w0)
    new_h, new_w = max(round(h0 * gain), 1), max(round(w0 * gain), 1)
    gain_y, gain_x = new_h / h0, new_w / w0
    pad_x = round((input_shape[1] - new_w) / 2 - 0.1)
    pad_y = round((input_shape[0] - new_h) / 2 - 0.1)
    out = boxes.copy()
    out[:, [0, 2]] -= pad_x
    out[:, [1, 3]] -= pad_y
    out[:, [0, 2]] /= gain_x
    out[:, [1, 3]] /= gain_y
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w0)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h0)
    return out
