"""Release errors. Each leaves every alias as it was; the CLI maps them to exit code 2."""


class ReleaseError(Exception):
    """Base class: a promotion or rollback that was refused or failed."""


class VersionNotPublished(ReleaseError):
    """The version has no ``model.onnx`` or ``manifest.json`` under its S3 prefix."""


class InvalidManifest(ReleaseError):
    """The version's ``manifest.json`` is unreadable or disagrees with ``model.onnx``."""


class NoPreviousVersion(ReleaseError):
    """The alias history holds no earlier version to roll back to."""


class AliasUpdateFailed(ReleaseError):
    """Writing an SSM parameter or an MLflow alias failed; every one was restored."""


class CanaryRefused(ReleaseError):
    """A canary cannot start as asked: nothing serves yet, the version already serves,
    another canary runs, the share is out of range, or the stack has no candidate
    parameter."""


class NoCanary(ReleaseError):
    """Promote or abort with no canary running."""


class InvalidCandidateValue(ReleaseError):
    """The candidate parameter holds neither ``none`` nor a canary route (a raw write)."""
