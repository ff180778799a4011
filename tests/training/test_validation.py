"""Dataset validation: every bad file is named, with its line for label rows."""

import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageFile

from training.data.errors import DatasetError
from training.data.ingest import ingest_synthetic
from training.data.synthetic import CLASS_NAMES, SyntheticSpec, iter_split
from training.data.validation import InvalidDatasetError, validate_dataset

SPEC = SyntheticSpec(seed=11, n_train=4, n_val=2, n_test=2)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest_synthetic(SPEC, tmp_path_factory.mktemp("pristine") / "ds")


@pytest.fixture
def dataset(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "ds"))


def _problems(root: Path) -> list[str]:
    with pytest.raises(InvalidDatasetError) as raised:
        validate_dataset(root)
    assert str(root) in str(raised.value)
    return [str(p) for p in raised.value.problems]


def test_a_valid_dataset_is_summarised_with_the_generators_counts(dataset: Path) -> None:
    summary = validate_dataset(dataset)

    expected_per_class = dict.fromkeys(CLASS_NAMES.values(), 0)
    for split in ("train", "val", "test"):
        boxes = [box for _, _, image_boxes in iter_split(SPEC, split) for box in image_boxes]
        assert summary.splits[split].images == SPEC.count(split)
        assert summary.splits[split].instances == len(boxes)
        assert summary.splits[split].backgrounds == 0
        for box in boxes:
            expected_per_class[CLASS_NAMES[box.class_id]] += 1
    assert summary.instances_per_class == expected_per_class
    metrics = summary.as_metrics()
    assert metrics["data.train.images"] == 4.0
    assert metrics["data.nc"] == 3.0
    assert sum(metrics[f"data.class.{name}"] for name in CLASS_NAMES.values()) == sum(
        expected_per_class.values()
    )


def test_corrupt_image_is_named(dataset: Path) -> None:
    bad = dataset / "images" / "train" / "train_00001.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    (problem,) = _problems(dataset)
    assert problem.startswith(f"{bad}: unreadable image")


@pytest.mark.parametrize("allow_truncated", [False, True])
def test_truncated_image_is_named_even_if_pillow_allows_truncation(
    dataset: Path, allow_truncated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", allow_truncated)
    bad = dataset / "images" / "val" / "val_00000.jpg"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    (problem,) = _problems(dataset)
    assert problem.startswith(f"{bad}: ")
    assert "truncated" in problem
    assert ImageFile.LOAD_TRUNCATED_IMAGES is allow_truncated


def test_jpeg_with_bytes_after_its_end_marker_is_named(dataset: Path) -> None:
    # Pillow decodes it; Ultralytics would rewrite the file in place, changing the DVC version.
    bad = dataset / "images" / "test" / "test_00001.jpg"
    bad.write_bytes(bad.read_bytes() + b"\x00trailer")
    with Image.open(bad) as image:
        image.load()
    (problem,) = _problems(dataset)
    assert problem == f"{bad}: corrupt JPEG: does not end with its end-of-image marker"


def test_tiny_image_is_named(dataset: Path) -> None:
    bad = dataset / "images" / "train" / "train_00002.jpg"
    Image.new("RGB", (8, 40)).save(bad)
    (problem,) = _problems(dataset)
    assert problem == f"{bad}: image is 8x40 px, under 10 px a side"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("0 1.2 0.5 0.1 0.1", "cx = 1.2 is outside [0, 1]"),
        ("1 0.5 0.5 0.1 -0.05", "h = -0.05 is outside [0, 1]"),
        ("3 0.5 0.5 0.1 0.1", "class id 3 is outside [0, 3)"),
        ("-1 0.5 0.5 0.1 0.1", "class id -1 is outside [0, 3)"),
        ("1.5 0.5 0.5 0.1 0.1", "class id '1.5' is not an integer"),
        ("0 0.5 0.5 0.1", "expected 5 columns 'class cx cy w h', found 4"),
        ("0 0.5 0.5 0.1 0.1 0.3", "expected 5 columns 'class cx cy w h', found 6"),
        ("0 0.5 nan 0.1 0.1", "cy = nan is outside [0, 1]"),
        ("0 0.5 x 0.1 0.1", "not a number in '0 0.5 x 0.1 0.1'"),
    ],
)
def test_bad_label_row_is_named_with_its_line(dataset: Path, row: str, reason: str) -> None:
    label = dataset / "labels" / "train" / "train_00000.txt"
    good = label.read_text().splitlines()
    label.write_text("\n".join([good[0], row, *good[1:]]) + "\n")
    (problem,) = _problems(dataset)
    assert problem.startswith(f"{label}:2: {reason}")


def test_every_problem_is_listed(dataset: Path) -> None:
    label = dataset / "labels" / "val" / "val_00001.txt"
    label.write_text("0 0.5 0.5 0.1 0.1\n\n7 0.5 0.5 0.1 0.1\n0 2 0.5 0.1 0.1\n")
    image = dataset / "images" / "test" / "test_00000.jpg"
    image.write_bytes(b"")
    problems = _problems(dataset)
    assert [p.split(": ", 1)[0] for p in problems] == [f"{label}:3", f"{label}:4", str(image)]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_empty_split_is_named(dataset: Path, split: str) -> None:
    for image in (dataset / "images" / split).iterdir():
        image.unlink()
    (problem,) = _problems(dataset)
    assert problem == f"{dataset / 'images' / split}: split '{split}' has no images"


def test_missing_split_folder_is_named(dataset: Path) -> None:
    shutil.rmtree(dataset / "images" / "val")
    (problem,) = _problems(dataset)
    assert problem == f"{dataset / 'images' / 'val'}: split 'val' has no images"


def test_background_images_and_orphan_labels_are_fine_as_in_yolo(dataset: Path) -> None:
    (dataset / "labels" / "train" / "train_00000.txt").unlink()  # no label file: background
    (dataset / "labels" / "train" / "train_00001.txt").write_text("")  # empty: background
    (dataset / "labels" / "train" / "no_such_image.txt").write_text("9 9 9 9\n")  # ignored
    summary = validate_dataset(dataset)
    assert summary.splits["train"].backgrounds == 2
    assert summary.splits["train"].images == 4


def test_data_yaml_problems_are_dataset_errors(dataset: Path) -> None:
    data_yaml = dataset / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())

    data_yaml.write_text(yaml.safe_dump({**data, "nc": 5}))
    with pytest.raises(DatasetError, match=r"data\.yaml: nc is 5 but 'names' has 3 entries"):
        validate_dataset(dataset)

    data_yaml.write_text(yaml.safe_dump({**data, "names": {0: "a", 2: "c"}}))
    with pytest.raises(DatasetError, match=r"class ids in 'names' must be 0\.\.1"):
        validate_dataset(dataset)

    data_yaml.unlink()
    with pytest.raises(DatasetError, match=r"data\.yaml does not exist"):
        validate_dataset(dataset)
