"""The synthetic generator and the YOLO dataset layout it is written in."""

import hashlib
from pathlib import Path

import pytest
import yaml

from training.data.ingest import DatasetError, ingest_local, ingest_synthetic, split_into
from training.data.synthetic import CLASS_NAMES, SyntheticSpec, generate_image

SMALL = SyntheticSpec(seed=3, n_train=6, n_val=2, n_test=3)


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a = ingest_synthetic(SMALL, tmp_path / "a")
    b = ingest_synthetic(SMALL, tmp_path / "b")
    assert _tree_digest(a) == _tree_digest(b)


def test_other_seed_gives_other_images() -> None:
    one, _ = generate_image(SMALL, "train", 0)
    other, _ = generate_image(SMALL.model_copy(update={"seed": 4}), "train", 0)
    assert one.tobytes() != other.tobytes()


def test_images_are_non_square_with_one_to_four_objects() -> None:
    shapes, counts, classes = set(), [], set()
    for index in range(40):
        image, boxes = generate_image(SMALL, "train", index)
        shapes.add(image.width == image.height)
        counts.append(len(boxes))
        classes.update(b.class_id for b in boxes)
        for box in boxes:
            assert 0 <= box.x1 < box.x2 <= image.width
            assert 0 <= box.y1 < box.y2 <= image.height
    assert False in shapes
    assert min(counts) >= 1 and max(counts) <= 4
    assert classes == set(CLASS_NAMES)


def test_dataset_layout_and_labels_in_range(tmp_path: Path) -> None:
    out = ingest_synthetic(SMALL, tmp_path / "ds")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == CLASS_NAMES
    assert "path" not in data  # Ultralytics resolves the splits from data.yaml's folder
    for split, count in (("train", 6), ("val", 2), ("test", 3)):
        images = sorted((out / "images" / split).glob("*.jpg"))
        labels = sorted((out / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == count
        for label in labels:
            rows = [line.split() for line in label.read_text().splitlines()]
            assert 1 <= len(rows) <= 4
            for class_id, *xywh in rows:
                assert int(class_id) in CLASS_NAMES
                cx, cy, w, h = map(float, xywh)
                assert 0 < w <= 1 and 0 < h <= 1
                assert cx - w / 2 >= 0 and cx + w / 2 <= 1 + 1e-6
                assert cy - h / 2 >= 0 and cy + h / 2 <= 1 + 1e-6


def test_spec_rejects_unknown_keys_and_bad_ranges() -> None:
    with pytest.raises(ValueError, match="extra"):
        SyntheticSpec.model_validate({"seed": 1, "n_imgs": 3})
    with pytest.raises(ValueError, match="increasing"):
        SyntheticSpec(width=(400, 200))


def test_local_dataset_without_test_split_is_split_by_seed(tmp_path: Path) -> None:
    source = ingest_synthetic(SMALL, tmp_path / "src")
    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    (flat / "labels").mkdir()
    for image in (source / "images").rglob("*.jpg"):
        (flat / "images" / image.name).write_bytes(image.read_bytes())
        label = source / "labels" / image.parent.name / f"{image.stem}.txt"
        (flat / "labels" / f"{image.stem}.txt").write_bytes(label.read_bytes())
    (flat / "data.yaml").write_text(yaml.safe_dump({"names": list(CLASS_NAMES.values())}))

    out = ingest_local(flat, tmp_path / "out", seed=1)
    counts = {s: len(list((out / "images" / s).glob("*.jpg"))) for s in ("train", "val", "test")}
    assert counts == {"train": 8, "val": 1, "test": 2}
    for image in (out / "images").rglob("*.jpg"):
        label = out / "labels" / image.parent.name / f"{image.stem}.txt"
        assert label.read_bytes() == (flat / "labels" / f"{image.stem}.txt").read_bytes()


def test_local_dataset_with_splits_is_copied(tmp_path: Path) -> None:
    source = ingest_synthetic(SMALL, tmp_path / "src")
    out = ingest_local(source, tmp_path / "copy")
    assert _tree_digest(out) == _tree_digest(source)


def test_unreadable_sources_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"data\.yaml"):
        ingest_local(tmp_path, tmp_path / "out")
    with pytest.raises(DatasetError, match="at least 3"):
        split_into([], CLASS_NAMES, tmp_path / "out")
