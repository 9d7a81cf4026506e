"""The shipped reflection-aware model at work: reflection masks of any frame, held-out scores.

``predict_reflection(frame)`` runs the intrinsic branch of ``models/student_reflection_ssl.*``
(:mod:`fsmde_gui.models.intrinsic`) on any SurroundFrame and returns the mask and score at the
frame's resolution (the mask math is :mod:`fsmde_gui.models.reflection`). Scoring a model
on a dataset is :mod:`fsmde_gui.evaluation.reflection_eval`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .intrinsic import load_reflection_model, run_decomposition
from .reflection import DEFAULT_QUANTILE
from .registry import model_path


def default_reflection_model_path() -> Path:
    """The shipped reflection-aware model (``models/student_reflection_ssl.pt``)."""
    return Path(model_path("student_reflection_ssl"))


def predict_reflection(frame, checkpoint: Optional[str | Path] = None,
                       quantile: float = DEFAULT_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """Reflection mask and soft score of every view of ``frame`` (any source, any size).

    Runs the intrinsic branch of the reflection-aware model (shipped checkpoint unless
    ``checkpoint`` is given) and applies :func:`reflection_mask_from_residual` per view.
    Returns ``mask`` (6, H, W) bool and ``score`` (6, H, W) float32 at the frame's size.
    """
    model = load_reflection_model(checkpoint or default_reflection_model_path())
    out = run_decomposition(model, frame, quantile=quantile)
    return out["reflection_mask"], out["reflection_score"]
