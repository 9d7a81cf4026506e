"""Surround-view street simulator (open3d ray casting) writing nuScenes-format datasets."""
from .classes import CLASS_NAMES, THIN_CLASSES  # noqa: F401
from .presets import PRESETS  # noqa: F401


def generate_dataset(*args, **kwargs):
    from .generate import generate_dataset as _generate

    return _generate(*args, **kwargs)
