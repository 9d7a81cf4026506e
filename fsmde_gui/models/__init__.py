"""Depth networks, checkpoints and inference.

Importing the package registers every architecture (:mod:`fsmde_gui.models.archs`), so a
checkpoint of any shipped arch loads whichever submodule is imported first.
"""
from . import archs  # noqa: F401  (registers the architectures)
