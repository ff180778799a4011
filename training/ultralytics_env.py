"""The one place that makes Ultralytics run offline and write only under the state dir.

Call :func:`import_ultralytics` instead of ``import ultralytics``: the environment must be set
before the package is first imported (it reads ``YOLO_CONFIG_DIR`` at import time).
"""

import os
import shutil
from pathlib import Path
from types import ModuleType

from training.settings import TrainingSettings

# Integrations Ultralytics turns on by itself when their package is importable. The job logs
# to MLflow itself (the built-in callback would write ./mlruns and start its own runs).
_DISABLED_INTEGRATIONS = ("sync", "mlflow", "dvc", "clearml", "comet", "raytune", "wandb")


def configure_environment(settings: TrainingSettings) -> None:
    """Set the offline environment variables (first call wins for ``YOLO_CONFIG_DIR``)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(settings.ultralytics_config_dir.resolve()))
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def import_ultralytics(settings: TrainingSettings) -> ModuleType:
    """Import ``ultralytics`` with the offline environment, a font and integrations off."""
    configure_environment(settings)
    import ultralytics
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    _install_font(Path(USER_CONFIG_DIR))
    wanted = {
        "runs_dir": str(settings.runs_dir.resolve()),
        "datasets_dir": str(settings.datasets_dir.resolve()),
        "weights_dir": str((settings.state_dir / "weights").resolve()),
        **{k: False for k in _DISABLED_INTEGRATIONS if k in SETTINGS},
    }
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return ultralytics


def _install_font(config_dir: Path) -> None:
    """Dataset checks call ``check_font('Arial.ttf')``, which downloads it when missing."""
    target = config_dir / "Arial.ttf"
    if target.exists():
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
