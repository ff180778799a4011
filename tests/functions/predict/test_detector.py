"""predict.detector answers like Ultralytics' own predictions, on non-square photos and sizes.

References: Ultralytics' ONNX predict on the same ONNX file, and Ultralytics' PyTorch
predict on the model the file was exported from. Both sides get the same RGB pixels
(decoded once with Pillow; Ultralytics takes them as BGR); Ultralytics letterboxes with
OpenCV and post-processes with torch. Fixed-size exports (square 320 and 640, 256x384)
letterbox to the export size, so PyTorch runs with ``rect=False``; a dynamic export (any
size, here at 320, 640 and 256x384) gets the minimum-padding letterbox, as PyTorch's default
``rect=True``. The mutation tests prove the comparison catches a letterbox or scaling error
in either axis.
"""

import copy
import functools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import predict.detector
from predict import processing
from predict.detector import Detection, Detector, create_session
from predict.images import decode_image
from tests.functions.predict.support import CLASS_NAMES, LARGE_IMGSZ, SQUARE_IMGSZ, WIDE_IMGSZ

CONF = 0.25
"""The calibrated test models give 10-60 detections per photo above this."""
IOU = 0.7
BOX_TOLERANCE_PX = 1.0
"""Max per-coordinate difference of matched boxes, in original-image pixels."""
CONF_TOLERANCE = 0.01
MIN_DETECTIONS = 10
PHOTOS = ("bus.jpg", "zidane.jpg")
"""Portrait 810x1080 and landscape 1280x720."""
EXPORTS = [
    (kind, imgsz)
    for kind in ("fixed", "dynamic")
    for imgsz in (SQUARE_IMGSZ, WIDE_IMGSZ, LARGE_IMGSZ)
]
"""(export, imgsz): the test model calibrated at imgsz, exported at imgsz fixed-size or with
dynamic height and width (then served at imgsz with the minimum-padding letterbox)."""
REFERENCES = ("onnx", "pytorch")


def _export_id(kind: str, imgsz: tuple[int, int]) -> str:
    return f"{kind}-{imgsz[0]}x{imgsz[1]}"


@pytest.fixture(scope="module")
def photos(bus_jpeg: bytes, zidane_jpeg: bytes) -> dict[str, np.ndarray]:
    return {"bus.jpg": decode_image(bus_jpeg), "zidane.jpg": decode_image(zidane_jpeg)}


@pytest.fixture(scope="module")
def model_path(exported_model):
    def path(kind: str, imgsz: tuple[int, int]) -> Path:
        return exported_model(imgsz, dynamic=kind == "dynamic")

    return path


def _ultralytics_detections(results) -> list[tuple[int, float, np.ndarray]]:
    (result,) = results
    boxes = result.boxes
    return [
        (int(c), float(s), b)
        for b, s, c in zip(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy(), strict=True)
    ]


@pytest.fixture(scope="module")
def reference(test_model, model_path, photos):
    """``(source, kind, imgsz, photo) -> [(class_id, confidence, xyxy)]``: Ultralytics'
    detections with ``source`` "onnx" (the ONNX file) or "pytorch" (the PyTorch model it
    was exported from)."""
    from ultralytics import YOLO

    @functools.cache
    def model(source: str, kind: str, imgsz: tuple[int, int]):
        if source == "onnx":
            return YOLO(str(model_path(kind, imgsz)), task="detect")
        return copy.deepcopy(test_model(imgsz))  # predict fuses Conv and BatchNorm in place

    @functools.cache
    def detections(source: str, kind: str, imgsz: tuple[int, int], photo: str):
        options = {"rect": kind == "dynamic"} if source == "pytorch" else {}
        results = model(source, kind, imgsz).predict(
            np.ascontiguousarray(photos[photo][..., ::-1]),
            imgsz=list(imgsz),
            conf=CONF,
            iou=IOU,
            max_det=300,
            device="cpu",
            verbose=False,
            **options,
        )
        return _ultralytics_detections(results)

    return detections


def assert_same_detections(
    ours: list[Detection], reference: list[tuple[int, float, np.ndarray]]
) -> tuple[float, float]:
    """Pair every reference detection with one of ours of the same class and a box within
    tolerance; return the largest box and confidence differences."""
    assert len(ours) == len(reference), f"{len(ours)} detections, Ultralytics {len(reference)}"
    unused = list(ours)
    worst_box = worst_conf = 0.0
    for class_id, confidence, box in reference:
        candidates = [d for d in unused if d.class_id == class_id]
        assert candidates, f"no class {class_id} detection left for {box}"
        best = min(candidates, key=lambda d: float(np.abs(np.subtract(d.box, box)).max()))
        box_diff = float(np.abs(np.subtract(best.box, box)).max())
        assert box_diff <= BOX_TOLERANCE_PX, f"class {class_id} box {best.box} vs {box}"
        conf_diff = abs(best.confidence - confidence)
        assert conf_diff <= CONF_TOLERANCE, f"confidence {best.confidence} vs {confidence}"
        unused.remove(best)
        worst_box, worst_conf = max(worst_box, box_diff), max(worst_conf, conf_diff)
    return worst_box, worst_conf


@pytest.mark.parametrize("source", REFERENCES)
@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize(("kind", "imgsz"), EXPORTS, ids=[_export_id(*e) for e in EXPORTS])
def test_parity_with_ultralytics_predict(
    model_path, photos, reference, source: str, photo: str, kind: str, imgsz: tuple[int, int]
) -> None:
    expected = reference(source, kind, imgsz, photo)
    assert len(expected) >= MIN_DETECTIONS, "the test model must find objects"
    assert len({c for c, _, _ in expected}) >= 2, "the test model must find several classes"

    detector = Detector(model_path(kind, imgsz), CLASS_NAMES, imgsz)
    assert detector.dynamic == (kind == "dynamic")
    ours = detector.predict(photos[photo], conf=CONF, iou=IOU, max_det=300)

    worst_box, worst_conf = assert_same_detections(ours, expected)
    print(
        f"{photo} {kind} {imgsz} vs {source}: {len(ours)} detections, max |box| "
        f"{worst_box:.2e} px, max |conf| {worst_conf:.2e}"
    )
    h, w = photos[photo].shape[:2]
    for d in ours:
        assert d.class_name == CLASS_NAMES[d.class_id]
        assert 0 <= d.box[0] <= d.box[2] <= w and 0 <= d.box[1] <= d.box[3] <= h


@pytest.mark.parametrize(
    ("photo", "imgsz", "input_shape"),
    [
        ("bus.jpg", LARGE_IMGSZ, (640, 480)),  # 4:3 portrait: no padding at all
        ("zidane.jpg", LARGE_IMGSZ, (384, 640)),  # 360 rows padded to 384
        ("bus.jpg", SQUARE_IMGSZ, (320, 256)),  # 240 columns padded to 256
        ("zidane.jpg", WIDE_IMGSZ, (224, 384)),  # 216 rows padded to 224
    ],
)
def test_dynamic_export_runs_at_the_stride_multiple(
    exported_model, photos, photo: str, imgsz, input_shape
) -> None:
    """One dynamic export serves any size (here the one traced at 320x320)."""
    detector = Detector(exported_model(SQUARE_IMGSZ, dynamic=True), CLASS_NAMES, imgsz)
    assert (detector.dynamic, detector.stride) == (True, 32)
    assert detector.letterbox(photos[photo]).image.shape == (*input_shape, 3)


def _letterbox_pad_left_only(image, new_shape, **options):
    out = processing.letterbox(image, new_shape, **options)
    top, left = out.pad
    return processing.Letterboxed(np.roll(out.image, -left, axis=1), out.gain, (top, 0))


def _letterbox_pad_top_only(image, new_shape, **options):
    out = processing.letterbox(image, new_shape, **options)
    top, left = out.pad
    return processing.Letterboxed(np.roll(out.image, -top, axis=0), out.gain, (0, left))


def _scale_boxes_ignoring(axis: int):
    def scale(boxes, input_shape, image_shape):
        h0, w0 = image_shape
        gain = min(input_shape[0] / h0, input_shape[1] / w0)
        pad = [(input_shape[1] - round(w0 * gain)) / 2, (input_shape[0] - round(h0 * gain)) / 2]
        pad[axis] = 0
        out = boxes.copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - pad[0]) / gain).clip(0, w0)
        out[:, [1, 3]] = ((out[:, [1, 3]] - pad[1]) / gain).clip(0, h0)
        return out

    return scale


def _scale_boxes_gain_from_wrong_side(boxes, input_shape, image_shape):
    h0, w0 = image_shape
    gain = max(input_shape[0] / h0, input_shape[1] / w0)  # the bug: max instead of min
    pad_x, pad_y = (input_shape[1] - w0 * gain) / 2, (input_shape[0] - h0 * gain) / 2
    out = boxes.copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - pad_x) / gain).clip(0, w0)
    out[:, [1, 3]] = ((out[:, [1, 3]] - pad_y) / gain).clip(0, h0)
    return out


def _scale_boxes_from_imgsz(imgsz: tuple[int, int]):
    def scale(boxes, _input_shape, image_shape):  # the bug: the full size, not the padded one
        return processing.scale_boxes(boxes, imgsz, image_shape)

    return scale


MUTATIONS = {
    # name: (attribute of predict.detector to replace, replacement, the photo padded in that axis)
    "letterbox not centred in x": ("letterbox", lambda _: _letterbox_pad_left_only, "bus.jpg"),
    "letterbox not centred in y": ("letterbox", lambda _: _letterbox_pad_top_only, "zidane.jpg"),
    "scale_boxes ignores x padding": ("scale_boxes", lambda _: _scale_boxes_ignoring(0), "bus.jpg"),
    "scale_boxes ignores y padding": (
        "scale_boxes",
        lambda _: _scale_boxes_ignoring(1),
        "zidane.jpg",
    ),
    "gain from the wrong side (x)": (
        "scale_boxes",
        lambda _: _scale_boxes_gain_from_wrong_side,
        "bus.jpg",
    ),
    "gain from the wrong side (y)": (
        "scale_boxes",
        lambda _: _scale_boxes_gain_from_wrong_side,
        "zidane.jpg",
    ),
    "scale_boxes from imgsz, not the input (x)": (
        "scale_boxes",
        _scale_boxes_from_imgsz,
        "bus.jpg",
    ),
    "scale_boxes from imgsz, not the input (y)": (
        "scale_boxes",
        _scale_boxes_from_imgsz,
        "zidane.jpg",
    ),
}
MUTATION_EXPORTS = {
    "bus.jpg": [("fixed", SQUARE_IMGSZ), ("fixed", WIDE_IMGSZ), ("dynamic", SQUARE_IMGSZ)],
    "zidane.jpg": [("fixed", SQUARE_IMGSZ), ("fixed", WIDE_IMGSZ), ("dynamic", LARGE_IMGSZ)],
}
"""Where the photo is padded in the axis its mutations break, by enough to show: bus.jpg
is not padded at all at dynamic 640, and at dynamic 320 zidane.jpg's boxes all span its
full height, so that a shift in y is clipped away."""
MUTATION_CASES = [
    (mutation, kind, imgsz)
    for mutation, (_, _, photo) in MUTATIONS.items()
    for kind, imgsz in MUTATION_EXPORTS[photo]
    if kind == "dynamic" or "from imgsz" not in mutation  # a fixed input *is* imgsz
]


@pytest.mark.parametrize(
    ("mutation", "kind", "imgsz"),
    MUTATION_CASES,
    ids=[f"{m}-{_export_id(k, i)}" for m, k, i in MUTATION_CASES],
)
def test_parity_check_catches_geometry_bugs(
    model_path,
    photos,
    reference,
    monkeypatch: pytest.MonkeyPatch,
    mutation: str,
    kind: str,
    imgsz: tuple[int, int],
) -> None:
    attribute, make_replacement, photo = MUTATIONS[mutation]
    monkeypatch.setattr(predict.detector, attribute, make_replacement(imgsz))
    detector = Detector(model_path(kind, imgsz), CLASS_NAMES, imgsz)
    ours = detector.predict(photos[photo], conf=CONF, iou=IOU)
    for source in REFERENCES:
        with pytest.raises(AssertionError):
            assert_same_detections(ours, reference(source, kind, imgsz, photo))


def test_detector_accepts_a_session_and_filters_classes(onnx_models, photos) -> None:
    session = create_session(onnx_models[WIDE_IMGSZ], intra_op_threads=1)
    detector = Detector(session, CLASS_NAMES, WIDE_IMGSZ)
    assert detector.session is session
    everything = detector.predict(photos["bus.jpg"], conf=CONF)
    only_square = detector.predict(photos["bus.jpg"], conf=CONF, classes=[1])
    assert only_square and {d.class_id for d in only_square} == {1}
    assert only_square == [d for d in everything if d.class_id == 1]
    assert len(detector.predict(photos["bus.jpg"], conf=CONF, max_det=3)) == 3
    assert detector.predict(photos["bus.jpg"], conf=0.999) == []


@pytest.mark.parametrize("imgsz", [SQUARE_IMGSZ, WIDE_IMGSZ])
def test_box_xywhn_is_the_box_normalised_by_the_original_image(onnx_models, photos, imgsz) -> None:
    detector = Detector(onnx_models[imgsz], CLASS_NAMES, imgsz)
    for image in photos.values():  # portrait and landscape
        h, w = image.shape[:2]
        detections = detector.predict(image, conf=CONF)
        assert detections
        for d in detections:
            x1, y1, x2, y2 = d.box
            expected = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
            np.testing.assert_allclose(d.box_xywhn, expected, atol=1e-6)
            assert all(0 <= v <= 1 for v in d.box_xywhn)


def test_detect_times_each_step(onnx_models, photos) -> None:
    detector = Detector(onnx_models[WIDE_IMGSZ], CLASS_NAMES, WIDE_IMGSZ)
    detections, timings = detector.detect(photos["zidane.jpg"], conf=CONF)
    assert detections == detector.predict(photos["zidane.jpg"], conf=CONF)
    assert timings.inference > 0 and timings.preprocess > 0 and timings.postprocess > 0
    assert set(timings.model_dump()) == {"preprocess", "inference", "postprocess"}


def test_detector_works_on_tiny_and_extreme_aspect_images(onnx_models) -> None:
    detector = Detector(onnx_models[SQUARE_IMGSZ], CLASS_NAMES, SQUARE_IMGSZ)
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 3), (3, 2000, 3), (2000, 3, 3), (17, 31, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        for d in detector.predict(image, conf=0.0, max_det=20):
            assert 0 <= d.box[0] <= d.box[2] <= shape[1]
            assert 0 <= d.box[1] <= d.box[3] <= shape[0]


def test_detector_rejects_mismatched_imgsz_and_bad_images(onnx_models) -> None:
    with pytest.raises(ValueError, match="imgsz"):
        Detector(onnx_models[WIDE_IMGSZ], CLASS_NAMES, (384, 256))
    with pytest.raises(ValueError, match="classes"):
        Detector(onnx_models[SQUARE_IMGSZ], {0: "only"}, SQUARE_IMGSZ).predict(
            np.zeros((10, 10, 3), np.uint8)
        )
    detector = Detector(onnx_models[SQUARE_IMGSZ], CLASS_NAMES, SQUARE_IMGSZ)
    for bad in [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((5, 5, 3))]:
        with pytest.raises(ValueError, match="uint8"):
            detector.predict(bad)


def test_detector_checks_dynamic_and_stride_against_the_onnx_file(
    onnx_models, exported_model, photos
) -> None:
    dynamic_onnx_model = exported_model(SQUARE_IMGSZ, dynamic=True)
    with pytest.raises(ValueError, match="dynamic"):
        Detector(onnx_models[SQUARE_IMGSZ], CLASS_NAMES, SQUARE_IMGSZ, dynamic=True)
    with pytest.raises(ValueError, match="stride"):
        Detector(onnx_models[SQUARE_IMGSZ], CLASS_NAMES, SQUARE_IMGSZ, stride=16)
    with pytest.raises(ValueError, match="multiple of the stride"):
        Detector(dynamic_onnx_model, CLASS_NAMES, (330, 320))
    # A dynamic export may still be served with the full letterbox (an old manifest).
    full = Detector(dynamic_onnx_model, CLASS_NAMES, SQUARE_IMGSZ, dynamic=False, stride=32)
    assert full.letterbox(photos["bus.jpg"]).image.shape == (*SQUARE_IMGSZ, 3)
    assert full.predict(photos["bus.jpg"], conf=CONF)


def test_create_session_sets_threads(onnx_models) -> None:
    session = create_session(onnx_models[SQUARE_IMGSZ], intra_op_threads=2)
    assert isinstance(session, ort.InferenceSession)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert (options.enable_cpu_mem_arena, options.enable_mem_pattern) == (True, False)
    assert session.get_providers() == ["CPUExecutionProvider"]
