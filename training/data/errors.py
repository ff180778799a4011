"""The dataset error type, shared by ingest, download and validation (CLI exit code 3)."""


class DatasetError(Exception):
    """A dataset source cannot be read, downloaded or is not a valid YOLO dataset."""
