"""Where FSMDE Studio finds its files: the package's own resources and the project folder.

Two kinds of files:

* **Package resources** (:data:`RESOURCES`, inside the package: ``fsmde_gui/resources/``):
  small files the code needs at run time, shipped with every install (``pip install .``),
  e.g. the default camera rig ``rig_nuscenes.json``.
* **The project folder** (:data:`PROJECT_ROOT`): where the shipped checkpoints
  (``models/``), the sample scenes (``resources/sample_scenes``), the bundled real keyframe
  (``resources/nuscenes-keyframe``), training runs (``runs/``), generated data (``data/``)
  and benchmark results live. It is, in order: the folder in ``FSMDE_HOME``; the source
  checkout the package runs from (an editable install or ``PYTHONPATH``); else the current
  folder. An installed package (``pip install .``) therefore works from any folder: point
  ``FSMDE_HOME`` at a checkout (or a folder with ``models/``) to use its checkpoints and
  data; ``FSMDE_MODELS_DIR`` overrides the models folder alone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

HOME_ENV = "FSMDE_HOME"

PACKAGE_DIR = Path(__file__).resolve().parent
"""The ``fsmde_gui`` package folder."""

IMPORT_ROOT = PACKAGE_DIR.parent
"""The folder that holds the package (the checkout, or ``site-packages``): a ``python -c``
subprocess started in it (``cwd=IMPORT_ROOT``; the current folder comes first on its
``sys.path``) imports this same ``fsmde_gui``, without any ``PYTHONPATH`` edit."""

RESOURCES = PACKAGE_DIR / "resources"
"""Package data shipped with every install."""

RIG_FILE = RESOURCES / "rig_nuscenes.json"
"""The default camera rig: the real nuScenes calibration of one keyframe."""


def source_checkout() -> Optional[Path]:
    """The source checkout the package runs from (it has ``pyproject.toml`` beside the
    package), or None for an installed package."""
    return IMPORT_ROOT if (IMPORT_ROOT / "pyproject.toml").is_file() else None


def project_root() -> Path:
    """``FSMDE_HOME``, else the source checkout, else the current folder (see module doc)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return source_checkout() or Path.cwd()


PROJECT_ROOT = project_root()
"""The project folder, fixed when the package is imported."""

MODELS_DIR = PROJECT_ROOT / "models"
"""Default folder of the shipped checkpoints (``FSMDE_MODELS_DIR`` overrides it, see
:func:`fsmde_gui.models.registry.models_dir`)."""

SAMPLE_SCENES = PROJECT_ROOT / "resources" / "sample_scenes"
"""The simulator sample (``make sample``): the app's and training's default dataset."""

KEYFRAME = PROJECT_ROOT / "resources" / "nuscenes-keyframe"
"""The real nuScenes keyframe bundled with the repository."""

RUNS_DIR = PROJECT_ROOT / "runs"
DATA_DIR = PROJECT_ROOT / "data"
BENCHMARKS_DIR = PROJECT_ROOT / "benchmarks"
