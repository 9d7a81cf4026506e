"""FSMDE Studio: full surround monocular depth estimation, engine and desktop app."""

__version__ = "0.1.0"
