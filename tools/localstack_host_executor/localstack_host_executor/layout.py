"""Where a function's code and layers sit on the host, and the environment that finds them.

In AWS Lambda the code is unpacked to ``/var/task`` and the layers are unpacked in order into
``/opt`` (a later layer overwrites the files of an earlier one). The Python runtime then searches
``/var/task``, ``/opt/python/lib/python3.X/site-packages``, ``/opt/python`` and finally its own
runtime packages (boto3, awslambdaric). Here each layer stays in its own folder (LocalStack's
unzipped copy), so the same order is rebuilt with the layers listed last-first.

Example::

    path = python_import_path((3, 12), Path("/tmp/code"), [Path("/tmp/layer1")])
    # [/tmp/code, /tmp/layer1/python/lib/python3.12/site-packages, /tmp/layer1/python]
    # (only the folders that exist)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

# Plain system folders only: the runtime must not see the host's ~/.local, pyenv shims and such.
_SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


def python_import_path(
    python_version: tuple[int, int], task_root: Path, layer_roots: Sequence[Path]
) -> list[Path]:
    """Folders for ``PYTHONPATH``, in Lambda's search order, keeping only those that exist."""
    major, minor = python_version
    newest_first = list(reversed(layer_roots))
    candidates = [
        task_root,
        *(
            root / "python" / "lib" / f"python{major}.{minor}" / "site-packages"
            for root in newest_first
        ),
        *(root / "python" for root in newest_first),
    ]
    return [folder for folder in candidates if folder.is_dir()]


def _existing(folders: Sequence[Path]) -> list[str]:
    return [str(folder) for folder in folders if folder.is_dir()]


def runtime_environment(
    *,
    lambda_env: Mapping[str, object],
    runtime: str,
    python_version: tuple[int, int],
    interpreter: Path,
    task_root: Path,
    layer_roots: Sequence[Path],
    home: Path,
) -> dict[str, str]:
    """The runtime process's full environment (nothing is inherited from LocalStack's own).

    ``lambda_env`` is what LocalStack computed for the environment (function variables,
    credentials, ``AWS_LAMBDA_*``, ``AWS_ENDPOINT_URL``...). The container paths it names
    (``/var/task``, ``/var/runtime``) are replaced by the host folders.
    """
    newest_first = list(reversed(layer_roots))
    env = {key: str(value) for key, value in lambda_env.items() if value is not None}
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(interpreter.parent.parent),
            # What the managed runtime's bootstrap sets; awslambdaric also keys its
            # thread-based polling of /next (which keeps signals working) on it.
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "PYTHONPATH": os.pathsep.join(
                str(folder) for folder in python_import_path(python_version, task_root, layer_roots)
            ),
            "PATH": os.pathsep.join(
                [
                    str(interpreter.parent),
                    *_existing([r / "bin" for r in newest_first]),
                    *_SYSTEM_PATH,
                ]
            ),
            "LD_LIBRARY_PATH": os.pathsep.join(
                _existing([task_root / "lib", *(r / "lib" for r in newest_first)])
            ),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            # botocore reads ~/.aws/config: keep the host user's profile out of the function.
            "HOME": str(home),
        }
    )
    if not env["LD_LIBRARY_PATH"]:
        del env["LD_LIBRARY_PATH"]
    return env
