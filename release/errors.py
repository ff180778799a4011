"""Release errors. Each leaves the serving alias as it was; the CLI maps them to exit code 2."""


class ReleaseError(Exception):
    """Base class: a promotion or rollback that was refused or failed."""


class VersionNotPublished(ReleaseError):
    """The version has no ``model.onnx`` or ``manifest.json`` under its S3 prefix."""


class InvalidManifest(ReleaseError):
    """The version's ``manifest.json`` is unreadable or disagrees with ``model.onnx``."""


class NoPreviousVersion(ReleaseError):
    """The alias history holds no earlier version to roll back to."""


class AliasUpdateFailed(ReleaseError):
    """Writing the SSM alias or the MLflow ``champion`` alias failed; both were restored."""
