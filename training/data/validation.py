"""Check a YOLO-format detection dataset before anything trains on it.

The rules follow Ultralytics' own dataset check (``ultralytics.data.utils.verify_image_label``),
made strict where Ultralytics would silently drop, repair or clip:

- ``data.yaml`` has ``names`` (a list, or a mapping with ids ``0..nc-1``); ``nc``, if given,
  equals the number of names.
- Every split (``train``, ``val``, ``test``) has at least one image under ``images/<split>``.
- Every image opens, passes Pillow's ``verify()`` and decodes fully with ``load()`` (a truncated
  file is an error, whatever ``ImageFile.LOAD_TRUNCATED_IMAGES`` says), is at least 10 px on
  each side, and a JPEG ends with its end-of-image marker (bytes after it decode fine, but
  Ultralytics would rewrite the file in place, changing the versioned data under DVC).
- Every label row is ``class cx cy w h``: 5 columns, an integer class id in ``[0, nc)``,
  coordinates normalised to ``[0, 1]`` (Ultralytics tolerates 0.01 beyond; this does not).
- An image without a label file is a background image (fine, counted); a label file without
  an image is ignored, as YOLO ignores it.

Example:
    >>> summary = validate_dataset(Path("data/synthetic-0123456789"))  # doctest: +SKIP
    >>> summary.splits["train"].images, summary.instances_per_class["ellipse"]  # doctest: +SKIP
    (256, 229)
"""

import math
from dataclasses import dataclass
from pathlib import Path

import yaml
from PIL import Image, ImageFile, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict

from training.data.errors import DatasetError
from training.data.ingest import IMAGE_SUFFIXES, read_names
from training.data.synthetic import SPLITS

MIN_IMAGE_SIDE = 10
"""Ultralytics rejects images smaller than this (pixels) on either side."""
MAX_PROBLEMS_SHOWN = 10
JPEG_END_OF_IMAGE = b"\xff\xd9"


@dataclass(frozen=True)
class Problem:
    """One bad file: the file, the 1-based line for a label row, and what is wrong."""

    path: Path
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.reason}"


class InvalidDatasetError(DatasetError):
    """The dataset breaks one or more rules; ``problems`` lists every bad file found."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"dataset {root} is invalid ({len(problems)} problems):\n  {shown}{tail}")


class SplitSummary(BaseModel):
    """Counts for one split: images, labelled boxes, and images without any box."""

    model_config = ConfigDict(frozen=True)

    images: int
    instances: int
    backgrounds: int


class DatasetSummary(BaseModel):
    """What a valid dataset holds, for logging (e.g. ``mlflow.log_metrics(s.as_metrics())``)."""

    model_config = ConfigDict(frozen=True)

    names: dict[int, str]
    splits: dict[str, SplitSummary]
    instances_per_class: dict[str, int]
    """Boxes per class name over all splits; every class appears, zero counts included."""

    def as_metrics(self) -> dict[str, float]:
        """Flat counts: ``data.<split>.images|instances|backgrounds``, ``data.class.<name>``."""
        metrics: dict[str, float] = {"data.nc": float(len(self.names))}
        for split, counts in self.splits.items():
            for field, value in counts.model_dump().items():
                metrics[f"data.{split}.{field}"] = float(value)
        for name, count in self.instances_per_class.items():
            metrics[f"data.class.{name}"] = float(count)
        return metrics


def validate_dataset(root: Path) -> DatasetSummary:
    """Check every image and label of the YOLO dataset at ``root`` (with ``data.yaml``).

    Returns:
        Counts per split and per class.

    Raises:
        DatasetError: ``data.yaml`` is missing or has no usable ``names``.
        InvalidDatasetError: empty or missing splits, unreadable images, malformed labels;
            the message names each bad file (and the line of a bad label row).
    """
    names = _read_class_names(root / "data.yaml")
    problems: list[Problem] = []
    splits: dict[str, SplitSummary] = {}
    per_class = dict.fromkeys(range(len(names)), 0)
    for split in SPLITS:
        folder = root / "images" / split
        images = _images_in(folder)
        if not images:
            problems.append(Problem(folder, f"split '{split}' has no images"))
            continue
        instances = backgrounds = 0
        for image in images:
            problems.extend(check_image(image))
            label = root / "labels" / split / f"{image.stem}.txt"
            if not label.exists():
                backgrounds += 1
                continue
            class_ids, label_problems = read_label(label, len(names))
            problems.extend(label_problems)
            instances += len(class_ids)
            backgrounds += not class_ids
            for class_id in class_ids:
                per_class[class_id] += 1
        splits[split] = SplitSummary(
            images=len(images), instances=instances, backgrounds=backgrounds
        )
    if problems:
        raise InvalidDatasetError(root, problems)
    return DatasetSummary(
        names=names,
        splits=splits,
        instances_per_class={names[i]: count for i, count in per_class.items()},
    )


def _read_class_names(data_yaml: Path) -> dict[int, str]:
    if not data_yaml.exists():
        raise DatasetError(f"{data_yaml} does not exist")
    names = read_names(data_yaml)
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"{data_yaml}: class ids in 'names' must be 0..{len(names) - 1}")
    nc = (yaml.safe_load(data_yaml.read_text()) or {}).get("nc")
    if nc is not None and nc != len(names):
        raise DatasetError(f"{data_yaml}: nc is {nc} but 'names' has {len(names)} entries")
    return names


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def check_image(path: Path) -> list[Problem]:
    """Problems of one image file: unreadable, truncated, too small, JPEG without its end marker."""
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums; the image cannot be used afterwards
        with Image.open(path) as image:
            _load_strictly(image)
            width, height = image.size
            is_jpeg = image.format == "JPEG"
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as error:
        return [Problem(path, f"unreadable image: {error}")]
    except ImportError:
        # Once Ultralytics is imported, Image.open is its wrapper, which answers a file Pillow
        # cannot identify by importing the HEIF plugin pi-heif (not installed, never fetched).
        return [Problem(path, "unreadable image: not a format Pillow can identify")]
    if min(width, height) < MIN_IMAGE_SIDE:
        return [Problem(path, f"image is {width}x{height} px, under {MIN_IMAGE_SIDE} px a side")]
    if is_jpeg and not _ends_with(path, JPEG_END_OF_IMAGE):
        return [Problem(path, "corrupt JPEG: does not end with its end-of-image marker")]
    return []


def _load_strictly(image: Image.Image) -> None:
    """Decode every pixel; a truncated file raises even if a library allowed truncation."""
    allowed = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        image.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = allowed


def _ends_with(path: Path, marker: bytes) -> bool:
    with path.open("rb") as f:
        f.seek(-len(marker), 2)
        return f.read() == marker


def read_label(path: Path, nc: int) -> tuple[list[int], list[Problem]]:
    """Class ids of the well-formed rows of one YOLO label file, and a problem per bad row.

    A row is ``class cx cy w h``: an integer class id in ``[0, nc)`` and four floats in
    ``[0, 1]`` (centre and size, normalised by image width and height). Blank lines are skipped.
    """
    class_ids: list[int] = []
    problems: list[Problem] = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        return [], [Problem(path, f"unreadable label file: {error}")]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        reason = _row_problem(line.split(), nc)
        if reason:
            problems.append(Problem(path, reason, number))
        else:
            class_ids.append(int(float(line.split()[0])))
    return class_ids, problems


def _row_problem(columns: list[str], nc: int) -> str | None:
    if len(columns) != 5:
        return f"expected 5 columns 'class cx cy w h', found {len(columns)}"
    try:
        values = [float(c) for c in columns]
    except ValueError:
        return f"not a number in {' '.join(columns)!r}"
    class_id, *box = values
    if not class_id.is_integer():
        return f"class id {columns[0]!r} is not an integer"
    if not 0 <= class_id < nc:
        return f"class id {int(class_id)} is outside [0, {nc}) (nc from data.yaml)"
    for name, value in zip(("cx", "cy", "w", "h"), box, strict=True):
        if not (math.isfinite(value) and 0 <= value <= 1):
            return f"{name} = {value:g} is outside [0, 1] (coordinates must be normalised)"
    return None
