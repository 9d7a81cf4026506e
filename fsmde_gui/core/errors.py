"""Errors the user can read: every one names the file (when there is one) and the problem."""
from __future__ import annotations


class FsmdeError(Exception):
    """Base class of all errors FSMDE Studio reports to the user (CLI message / app dialog)."""


class InferenceError(FsmdeError, ValueError):
    """A frame the model cannot run on (image layout, sizes); names the frame and view."""


class DatasetError(FsmdeError):
    """A dataset folder or one of its files cannot be read."""

    def __init__(self, path, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class CheckpointError(FsmdeError):
    """A checkpoint file is missing, not ours, or for another architecture."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class TrainingError(FsmdeError):
    """Training stopped for a reason the user must know (NaN loss, bad config)."""
