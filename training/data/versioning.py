"""Version datasets with DVC: ``dvc add`` to ``data/<name>.dvc``, ``dvc push``, ``dvc pull``.

The layout is DVC's usual one inside the git repository::

    .dvc/config            the S3 remote (committed)
    .dvcignore             *.cache: Ultralytics' label caches are not data
    data/<name>/           the dataset (ignored by git through data/.gitignore, which DVC writes)
    data/<name>.dvc        its md5 (``<md5>.dir``): commit this file with the code

The ``.dvc`` file's md5 is the data version every run is tagged with. The remote's endpoint
always follows the settings (``DETECTOR_AWS_ENDPOINT_URL``; in compose
``http://localstack:4566``), passed to DVC as an in-memory config override, so the committed
``.dvc/config`` is never edited. Outside a git checkout (e.g. a container without ``.git``)
DVC runs with ``core.no_scm``.

DVC's Python API (``dvc.repo.Repo``) runs in-process: about 1-3 s for the first import, then
no per-command start-up. An already added and pushed dataset needs neither: its md5 is
computed here (``training.lineage.dvc_dir_md5``, the same hash DVC writes) and the remote is
asked for the version's ``.dir`` object, which DVC uploads last.
"""

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import boto3
from pydantic import BaseModel

from training.lineage import dvc_dir_md5, dvc_file, recorded_dvc_md5
from training.settings import TrainingSettings

log = logging.getLogger(__name__)


class DataVersioningError(Exception):
    """DVC could not add, push or pull a dataset (CLI exit code 4)."""


class RemoteUnreachableError(DataVersioningError):
    """Nothing answers at the DVC remote's endpoint."""


@dataclass(frozen=True)
class DataRemote:
    """A DVC S3 remote as the settings resolve it."""

    name: str
    url: str
    """``s3://<bucket>/<prefix>``, from ``.dvc/config``."""
    endpoint: str | None
    """``aws_endpoint_url`` of the settings; ``None`` means real AWS."""

    @property
    def bucket(self) -> str:
        return urlparse(self.url).netloc

    def object_key(self, md5: str) -> str:
        """The key DVC 3 stores an object under: ``<prefix>/files/md5/<2 hex>/<rest>``."""
        prefix = urlparse(self.url).path.strip("/")
        return "/".join(part for part in (prefix, "files", "md5", md5[:2], md5[2:]) if part)

    def describe(self) -> str:
        return f"DVC remote '{self.name}' ({self.url}) at endpoint {self.endpoint or 'AWS S3'}"


class DatasetStatus(BaseModel):
    """How a tracked dataset's folder and the remote compare with its ``.dvc`` file."""

    name: str
    data_version: str
    """The md5 its ``.dvc`` file records."""
    workspace: Literal["ok", "modified", "missing"]
    remote: Literal["pushed", "not pushed", "unreachable"]


def tracked_datasets(datasets_dir: Path) -> list[Path]:
    """Every dataset folder in ``datasets_dir`` with a ``<name>.dvc`` beside it (present or not)."""
    return sorted(path.with_suffix("") for path in datasets_dir.glob("*.dvc"))


class DvcProject:
    """The DVC project at ``settings.dvc_root`` and its remote, endpoint from the settings.

    Raises:
        DataVersioningError: ``dvc_root`` has no ``.dvc/`` folder, or the remote is not set
            or not an ``s3://`` URL.
    """

    def __init__(self, settings: TrainingSettings) -> None:
        self.settings = settings
        self.root = settings.dvc_root.resolve()
        if not (self.root / ".dvc").is_dir():
            raise DataVersioningError(f"{self.root} is not a DVC project (no .dvc/ folder)")
        self.remote = self._resolve_remote()

    def _resolve_remote(self) -> DataRemote:
        from dvc.config import Config, ConfigError

        try:
            config = Config(dvc_dir=self.root / ".dvc")
        except ConfigError as error:
            raise DataVersioningError(f"{self.root / '.dvc'}: {error}") from error
        name = self.settings.dvc_remote or config["core"].get("remote")
        remote = config["remote"].get(name or "")
        if remote is None:
            raise DataVersioningError(
                f"no DVC remote {name!r} in {self.root / '.dvc' / 'config'} "
                "(set core.remote or DETECTOR_DVC_REMOTE)"
            )
        if not remote["url"].startswith("s3://"):
            raise DataVersioningError(f"DVC remote {name!r} is {remote['url']}, not an s3:// URL")
        return DataRemote(name, remote["url"], self.settings.aws_endpoint_url)

    def _remote_config(self) -> dict[str, Any]:
        """Overrides of the committed remote: the settings' endpoint and region."""
        region = self.settings.aws_region
        endpoint = self.remote.endpoint or f"https://s3.{region}.amazonaws.com"
        override: dict[str, Any] = {"endpointurl": endpoint, "region": region}
        if self.remote.endpoint and boto3.session.Session().get_credentials() is None:
            # Emulated endpoints accept any key, as DeploymentSettings.client assumes too.
            override |= {"access_key_id": "test", "secret_access_key": "test"}
        return override

    @contextmanager
    def _repo(self) -> Iterator[Any]:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        core: dict[str, Any] = {"site_cache_dir": str(self.settings.state_dir.resolve() / "dvc")}
        if not _inside_git_worktree(self.root):
            core["no_scm"] = True
        try:
            with Repo(
                str(self.root),
                config={"core": core},
                remote=self.remote.name,
                remote_config=self._remote_config(),
            ) as repo:
                repo.scm_context.quiet = True  # we log what to commit ourselves
                yield repo
        except DvcException as error:
            raise DataVersioningError(f"DVC failed in {self.root}: {error}") from error

    def check_remote(self) -> None:
        """Fail fast if the remote's endpoint is down; create its bucket on an emulated one.

        Raises:
            RemoteUnreachableError: no TCP connection within ``dvc_connect_timeout_s``; the
                message names the remote URL and the endpoint.
            DataVersioningError: the endpoint answers but the bucket cannot be used.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        host, port = _host_port(self.remote.endpoint, self.settings.aws_region)
        timeout = self.settings.dvc_connect_timeout_s
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as error:
            raise RemoteUnreachableError(
                f"{self.remote.describe()} is unreachable: no answer from {host}:{port} within "
                f"{timeout:g} s ({error}). Start LocalStack, point DETECTOR_AWS_ENDPOINT_URL at "
                "the S3 endpoint, or set DETECTOR_DVC_PUSH=false to version locally only."
            ) from error
        s3 = self.settings.client("s3")
        try:
            s3.head_bucket(Bucket=self.remote.bucket)
        except ClientError as error:
            if self.remote.endpoint is None:
                raise DataVersioningError(f"{self.remote.describe()}: {error}") from error
            s3.create_bucket(Bucket=self.remote.bucket)
        except BotoCoreError as error:
            raise DataVersioningError(f"{self.remote.describe()}: {error}") from error

    def has_version(self, md5: str) -> bool:
        """Whether the remote holds ``md5``'s ``.dir`` object (DVC pushes it after the files)."""
        from botocore.exceptions import ClientError

        try:
            self.settings.client("s3").head_object(
                Bucket=self.remote.bucket, Key=self.remote.object_key(md5)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise DataVersioningError(f"{self.remote.describe()}: {error}") from error
        return True

    def add(self, folder: Path) -> str:
        """``dvc add`` the dataset folder; return its md5 from the ``.dvc`` file written."""
        with self._repo() as repo:
            repo.add([str(folder)])
        version = recorded_dvc_md5(folder)
        assert version is not None
        log.info(
            "dvc add %s: data version %s; commit %s and %s",
            folder,
            version,
            dvc_file(folder).relative_to(self.root),
            (folder.parent / ".gitignore").relative_to(self.root),
        )
        return version

    def push(self, folder: Path) -> int:
        """``dvc push`` the folder's ``.dvc`` target; return the number of files uploaded.

        Raises:
            DataVersioningError: DVC failed, or the remote lacks the version afterwards.
        """
        with self._repo() as repo:
            pushed = repo.push([str(dvc_file(folder))], remote=self.remote.name)
        version = recorded_dvc_md5(folder)
        if version is None or not self.has_version(version):
            raise DataVersioningError(
                f"dvc push of {folder} left {self.remote.describe()} without {version}"
            )
        log.info("dvc push %s to %s: %d files uploaded", folder, self.remote.describe(), pushed)
        return pushed

    def pull(self, folder: Path) -> None:
        """``dvc pull`` the folder's ``.dvc`` target: fetch missing objects, check them out."""
        if recorded_dvc_md5(folder) is None:
            raise DataVersioningError(
                f"{dvc_file(folder)} does not exist: nothing records this dataset's version "
                "(ingest it, or check out the commit that has the .dvc file)"
            )
        with self._repo() as repo:
            repo.pull([str(dvc_file(folder))], remote=self.remote.name, force=True)

    def status(self, folder: Path, remote_reachable: bool) -> DatasetStatus:
        """Compare ``folder`` and (if reachable) the remote with the folder's ``.dvc`` file."""
        recorded = recorded_dvc_md5(folder)
        if recorded is None:
            raise DataVersioningError(f"{dvc_file(folder)} does not exist")
        if not folder.is_dir():
            workspace = "missing"
        else:
            workspace = "ok" if dvc_dir_md5(folder) == recorded else "modified"
        if not remote_reachable:
            remote = "unreachable"
        else:
            remote = "pushed" if self.has_version(recorded) else "not pushed"
        return DatasetStatus(
            name=folder.name, data_version=recorded, workspace=workspace, remote=remote
        )

    def version(self, folder: Path, push: bool) -> str:
        """Add (and push) ``folder`` unless DVC already holds this content; return its md5.

        Idempotent: an unchanged folder whose version is recorded (and, with ``push``, on
        the remote) costs one hash of its files and, with ``push``, one S3 ``HEAD``.
        """
        computed = dvc_dir_md5(folder)
        if recorded_dvc_md5(folder) != computed or (push and not self.has_version(computed)):
            version = self.add(folder)
            if version != computed:
                log.warning(
                    "DVC's md5 of %s is %s, computed %s: .dvcignore ignores more than *.cache",
                    folder,
                    version,
                    computed,
                )
            if push:
                self.push(folder)
        return recorded_dvc_md5(folder) or computed


def _host_port(endpoint: str | None, region: str) -> tuple[str, int]:
    url = urlparse(endpoint or f"https://s3.{region}.amazonaws.com")
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


def _inside_git_worktree(path: Path) -> bool:
    """Whether ``path`` or a parent holds ``.git`` (a folder, or a file in a git worktree)."""
    return any((folder / ".git").exists() for folder in (path, *path.parents))
