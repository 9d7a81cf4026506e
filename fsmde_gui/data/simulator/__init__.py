"""Surround-view street simulator (open3d ray casting) writing nuScenes-format datasets."""
from .classes import CLASS_NAMES, THIN_CLASSES  # noqa: F401
from .generate import generate_dataset  # noqa: F401
from .presets import PRESETS  # noqa: F401
