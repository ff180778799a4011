"""predict.processing against Ultralytics' own implementations, on non-square shapes."""

import numpy as np
import pytest

from predict.images import decode_image
from predict.processing import (
    PAD_VALUE,
    decode_yolo_output,
    letterbox,
    nms,
    non_max_suppression,
    resize_bilinear,
    scale_boxes,
    to_input_tensor,
    xyxy2xywhn,
)

TARGETS = [(320, 320), (256, 384), (384, 256)]
"""Model input sizes (height, width): square, wide, tall."""
IMAGE_SHAPES = [(1080, 810), (720, 1280), (123, 457), (500, 97), (64, 64)]
"""Original image sizes (height, width): portrait, landscape, odd sizes, square."""


def _random_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_letterbox_matches_ultralytics(
    ultralytics_env: None, shape: tuple[int, int], target: tuple[int, int]
) -> None:
    from ultralytics.data.augment import LetterBox

    image = _random_image(shape)
    ours = letterbox(image, target)
    theirs = LetterBox(target, auto=False)(image=image)
    assert ours.image.shape == (*target, 3)
    assert ours.image.dtype == np.uint8
    if min(target[0] / shape[0], target[1] / shape[1]) <= 1:
        np.testing.assert_array_equal(ours.image, theirs)
    else:  # enlarging: OpenCV's rounding differs by one grey level on a few pixels
        diff = np.abs(ours.image.astype(int) - theirs)
        assert diff.max() <= 1
        assert (diff > 0).mean() < 0.01


@pytest.mark.parametrize("target", [*TARGETS, (640, 640)])
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_minimum_padding_letterbox_matches_ultralytics(
    ultralytics_env: None, shape: tuple[int, int], target: tuple[int, int]
) -> None:
    from ultralytics.data.augment import LetterBox

    image = _random_image(shape, seed=3)
    ours = letterbox(image, target, auto=True, stride=32)
    theirs = LetterBox(target, auto=True, stride=32)(image=image)
    assert ours.image.shape == theirs.shape
    assert ours.image.shape[0] % 32 == 0 and ours.image.shape[1] % 32 == 0
    if min(target[0] / shape[0], target[1] / shape[1]) <= 1:
        np.testing.assert_array_equal(ours.image, theirs)
    else:
        assert np.abs(ours.image.astype(int) - theirs).max() <= 1


@pytest.mark.parametrize(
    ("shape", "target", "input_shape", "pad"),
    [
        ((1080, 810), (640, 640), (640, 480), (0, 0)),  # 4:3 fits the stride: no padding
        ((720, 1280), (640, 640), (384, 640), (12, 0)),  # 360 rows -> 384
        ((1080, 810), (320, 320), (320, 256), (0, 8)),  # 240 columns -> 256
        ((720, 1280), (256, 384), (224, 384), (4, 0)),  # 216 rows -> 224
    ],
)
def test_minimum_padding_letterbox_pads_to_the_stride(
    shape: tuple[int, int],
    target: tuple[int, int],
    input_shape: tuple[int, int],
    pad: tuple[int, int],
) -> None:
    out = letterbox(np.full((*shape, 3), 7, np.uint8), target, auto=True)
    assert out.image.shape == (*input_shape, 3)
    assert out.pad == pad
    (top, left), (gain_y, gain_x) = pad, out.gain
    h, w = round(shape[0] * gain_y), round(shape[1] * gain_x)
    assert (out.image[top : top + h, left : left + w] == 7).all()
    assert (out.image == PAD_VALUE).sum() == 3 * (input_shape[0] * input_shape[1] - h * w)
    content = np.array([[left, top, left + w, top + h]], np.float32)
    np.testing.assert_allclose(scale_boxes(content, input_shape, shape), [[0, 0, *shape[::-1]]])


@pytest.mark.parametrize(
    ("shape", "target", "resized", "pad"),
    [
        ((1080, 810), (320, 320), (320, 240), (0, 40)),  # portrait into square: pad x
        ((720, 1280), (320, 320), (180, 320), (70, 0)),  # landscape into square: pad y
        ((1080, 810), (256, 384), (256, 192), (0, 96)),  # portrait into wide: height limits
        ((720, 1280), (256, 384), (216, 384), (20, 0)),  # landscape into wide: width limits
        ((720, 1280), (384, 256), (144, 256), (120, 0)),  # landscape into tall
    ],
)
def test_letterbox_gain_and_centred_padding(
    shape: tuple[int, int],
    target: tuple[int, int],
    resized: tuple[int, int],
    pad: tuple[int, int],
) -> None:
    image = np.full((*shape, 3), 7, dtype=np.uint8)
    out = letterbox(image, target)
    assert out.pad == pad
    assert out.gain == pytest.approx((resized[0] / shape[0], resized[1] / shape[1]))
    top, left = pad
    content = out.image[top : top + resized[0], left : left + resized[1]]
    assert (content == 7).all()
    assert (out.image == PAD_VALUE).sum() == 3 * (target[0] * target[1] - resized[0] * resized[1])


@pytest.mark.parametrize("size", [(320, 240), (180, 320), (216, 384), (540, 405), (97, 33)])
def test_resize_bilinear_is_opencv_inter_linear_when_shrinking(bus_jpeg: bytes, size) -> None:
    import cv2

    image = decode_image(bus_jpeg)
    expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_bilinear(image, size), expected)


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((2000, 1500), (320, 240)),
        ((4032, 3024), (640, 480)),
        ((999, 5), (3, 2)),
        ((5, 999), (5, 7)),
    ],
)
def test_resize_bilinear_is_opencv_inter_linear_on_noise(shape, size) -> None:
    """Noise has no smooth areas to hide an off-by-one; > 2x shrinks read only some rows."""
    import cv2

    image = _random_image(shape, seed=4)
    expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_bilinear(image, size), expected)


def test_resize_bilinear_saturates_at_255_and_writes_into_out(bus_jpeg: bytes) -> None:
    import cv2

    white = np.full((500, 300, 3), 255, np.uint8)
    assert (resize_bilinear(white, (311, 187)) == 255).all()
    image = decode_image(bus_jpeg)
    canvas = np.zeros((400, 400, 3), np.uint8)
    returned = resize_bilinear(image, (320, 240), out=canvas[40:360, 80:320])
    assert returned.base is canvas
    expected = cv2.resize(image, (240, 320), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(canvas[40:360, 80:320], expected)
    assert not canvas[:40].any() and not canvas[:, :80].any()


def test_resize_bilinear_is_within_one_level_of_opencv_when_enlarging() -> None:
    import cv2

    image = _random_image((97, 131))
    expected = cv2.resize(image, (384, 256), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(resize_bilinear(image, (256, 384)).astype(int) - expected)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1080, 810), (720, 1280), (300, 1000)])
def test_letterbox_then_scale_boxes_round_trip(
    shape: tuple[int, int], target: tuple[int, int]
) -> None:
    """A box mapped into the letterbox with its gain and pad comes back unchanged."""
    h, w = shape
    boxes = np.array(
        [[0, 0, w, h], [10.5, 20.25, w / 3, h / 2], [w / 2, h / 4, w - 1, h - 3]], np.float32
    )
    out = letterbox(np.zeros((*shape, 3), np.uint8), target)
    (gain_y, gain_x), (top, left) = out.gain, out.pad
    boxed = boxes * np.array([gain_x, gain_y, gain_x, gain_y], np.float32)
    boxed += np.array([left, top, left, top], np.float32)
    np.testing.assert_allclose(scale_boxes(boxed, target, shape), boxes, atol=1e-3)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1080, 810), (720, 1280)])
def test_drawn_rectangle_found_in_letterbox_maps_back(
    shape: tuple[int, int], target: tuple[int, int]
) -> None:
    """Pixels, not formulas: a white rectangle found in the letterboxed image maps back."""
    h, w = shape
    x1, y1, x2, y2 = int(w * 0.6), int(h * 0.15), int(w * 0.9), int(h * 0.4)
    image = np.zeros((h, w, 3), np.uint8)
    image[y1:y2, x1:x2] = 255
    boxed = letterbox(image, target).image
    ys, xs = np.nonzero(boxed[..., 0] > 127)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = scale_boxes(found, target, shape)[0]
    one_input_pixel = max(h / target[0], w / target[1])
    np.testing.assert_allclose(back, [x1, y1, x2, y2], atol=one_input_pixel + 0.5)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1080, 810), (720, 1280), (123, 457), (500, 97)])
def test_scale_boxes_matches_ultralytics(
    ultralytics_env: None, shape: tuple[int, int], target: tuple[int, int]
) -> None:
    import torch
    from ultralytics.utils import ops

    rng = np.random.default_rng(1)
    xy = rng.uniform(-20, max(target) + 20, (50, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(1, 150, (50, 2)).astype(np.float32)], axis=1)
    expected = ops.scale_boxes(target, torch.from_numpy(boxes.copy()), shape).numpy()
    np.testing.assert_allclose(scale_boxes(boxes, target, shape), expected, rtol=0, atol=1e-4)


def test_scale_boxes_clips_x_to_width_and_y_to_height() -> None:
    out = scale_boxes(np.array([[-50, -50, 1000, 1000]], np.float32), (320, 320), (720, 1280))
    np.testing.assert_allclose(out, [[0, 0, 1280, 720]])


@pytest.mark.parametrize("shape", [(1080, 810), (720, 1280), (123, 457)])
def test_xyxy2xywhn_matches_ultralytics_on_non_square_images(
    ultralytics_env: None, shape: tuple[int, int]
) -> None:
    from ultralytics.utils import ops

    h, w = shape
    rng = np.random.default_rng(2)
    x1y1 = rng.uniform(0, [w / 2, h / 2], (50, 2))
    boxes = np.concatenate([x1y1, x1y1 + rng.uniform(1, [w / 2, h / 2], (50, 2))], axis=1)
    expected = ops.xyxy2xywhn(boxes.copy(), w=w, h=h)
    np.testing.assert_allclose(xyxy2xywhn(boxes, shape), expected, rtol=0, atol=1e-12)


def test_xyxy2xywhn_divides_x_by_width_and_y_by_height() -> None:
    boxes = np.array([[0, 0, 1280, 720], [640, 0, 1280, 360]], np.float32)
    np.testing.assert_allclose(
        xyxy2xywhn(boxes, (720, 1280)), [[0.5, 0.5, 1, 1], [0.75, 0.25, 0.5, 0.5]]
    )
    assert xyxy2xywhn(np.empty((0, 4), np.float32), (10, 20)).shape == (0, 4)


def test_to_input_tensor_layout_and_range() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0], image[..., 2] = 255, 51
    x = to_input_tensor(image)
    assert x.shape == (1, 3, 2, 3)
    assert x.dtype == np.float32
    assert x.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, 0.0, 0.2])


def test_decode_yolo_output_transposes_and_converts_to_corners() -> None:
    output = np.zeros((1, 4 + 2, 3), np.float32)
    output[0, :4, 1] = [100, 50, 20, 10]  # cx, cy, w, h of the second anchor
    output[0, 4:, 1] = [0.1, 0.9]
    boxes, scores = decode_yolo_output(output)
    assert boxes.shape == (3, 4)
    assert scores.shape == (3, 2)
    np.testing.assert_allclose(boxes[1], [90, 45, 110, 55])
    np.testing.assert_allclose(scores[1], [0.1, 0.9])


@pytest.mark.parametrize("shape", [(2, 7, 10), (1, 4, 10), (7,)])
def test_decode_yolo_output_rejects_other_shapes(shape) -> None:
    with pytest.raises(ValueError, match="shape"):
        decode_yolo_output(np.zeros(shape, np.float32))


def test_nms_keeps_best_of_overlapping_and_all_disjoint() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], np.float32
    )
    scores = np.array([0.8, 0.9, 0.5, 0.7], np.float32)
    # box 1 (best) suppresses 0 (IoU 0.68 > 0.5) and 3 (IoU 0.64); 2 is disjoint
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 2]  # 0 survives, then suppresses 3


def test_nms_matches_torchvision() -> None:
    import torch
    import torchvision

    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 300, (400, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (400, 2)).astype(np.float32)], axis=1)
    scores = rng.uniform(0, 1, 400).astype(np.float32)
    for iou in (0.3, 0.5, 0.7):
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou)
        assert nms(boxes, scores, iou).tolist() == expected.tolist()


def _random_prediction(seed: int, nc: int = 3, n: int = 2000) -> np.ndarray:
    """A raw ``(1, 4 + nc, n)`` head output with clustered boxes and spread scores."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(20, 300, (12, 2))
    cxcy = centres[rng.integers(0, 12, n)] + rng.normal(0, 6, (n, 2))
    wh = rng.uniform(10, 90, (n, 2))
    scores = 1 / (1 + np.exp(-rng.normal(-3, 2, (n, nc))))
    return np.concatenate([cxcy, wh, scores], axis=1).T[None].astype(np.float32)


@pytest.mark.parametrize(
    ("conf", "iou", "max_det", "classes"),
    [(0.25, 0.7, 300, None), (0.5, 0.45, 300, None), (0.1, 0.7, 20, None), (0.2, 0.6, 300, [0, 2])],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_non_max_suppression_matches_ultralytics(
    ultralytics_env: None, seed: int, conf: float, iou: float, max_det: int, classes
) -> None:
    import torch
    from ultralytics.utils.nms import non_max_suppression as ultralytics_nms

    prediction = _random_prediction(seed)
    (expected,) = ultralytics_nms(
        torch.from_numpy(prediction), conf, iou, classes=classes, max_det=max_det
    )
    expected = expected.numpy()
    boxes, confidences, class_ids = non_max_suppression(
        *decode_yolo_output(prediction), conf, iou, max_det=max_det, classes=classes
    )
    assert len(boxes) == len(expected) > 0
    np.testing.assert_allclose(boxes, expected[:, :4], atol=1e-4)
    np.testing.assert_allclose(confidences, expected[:, 4], atol=1e-6)
    np.testing.assert_array_equal(class_ids, expected[:, 5].astype(np.int64))


def test_non_max_suppression_is_class_wise_and_conf_is_exclusive() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([[0.9, 0.0], [0.0, 0.8], [0.25, 0.0]], np.float32)
    out_boxes, confidences, class_ids = non_max_suppression(boxes, scores, 0.25, 0.5)
    assert class_ids.tolist() == [0, 1]  # same box, different classes: both kept
    np.testing.assert_allclose(confidences, [0.9, 0.8])  # 0.25 is not > 0.25
    assert out_boxes.shape == (2, 4)
    assert non_max_suppression(boxes, scores, 0.25, 0.5, classes=[1])[2].tolist() == [1]
    assert non_max_suppression(boxes, scores, 0.25, 0.5, max_det=1)[2].tolist() == [0]


def test_non_max_suppression_with_nothing_above_threshold() -> None:
    boxes, confidences, class_ids = non_max_suppression(
        np.zeros((5, 4), np.float32), np.full((5, 3), 0.1, np.float32), 0.25, 0.7
    )
    assert boxes.shape == (0, 4)
    assert confidences.shape == class_ids.shape == (0,)


@pytest.mark.parametrize(("conf", "iou"), [(-0.1, 0.5), (1.5, 0.5), (0.5, 2.0)])
def test_non_max_suppression_rejects_out_of_range_thresholds(conf: float, iou: float) -> None:
    with pytest.raises(ValueError):
        non_max_suppression(np.zeros((1, 4), np.float32), np.ones((1, 1), np.float32), conf, iou)
