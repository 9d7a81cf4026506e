"""Which role a loaded model can play: ``student`` (metric depth), ``teacher`` (relative depth,
aligned to GT per image) or ``semantic`` (class logits, the BriGeS semantic net).

Every place that takes a model for a role (``--student`` / ``--teacher`` of ``fsmde eval``,
``fsmde export``, ``fsmde export-model``, ``fsmde bench speed`` and the app) loads it through
:class:`~fsmde_gui.models.inference.DepthEstimator` with ``role=...`` (or calls
:func:`check_role` itself), so a teacher given as ``--student`` is refused with one line
instead of being evaluated as if it were one. (No torch import: the app imports this early.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import CheckpointError

ROLES = ("student", "teacher")
ROLE_OF_OUTPUT = {"metric": "student", "disparity": "teacher", "depth": "teacher",
                  "semantic": "semantic"}
ROLE_NOUN = {"student": "student", "teacher": "teacher", "semantic": "semantic net",
             "unknown": "unknown model"}
WHAT_ROLE_GIVES = {
    "student": "metric depth",
    "teacher": "relative depth, GT-aligned",
    "semantic": "semantic classes, no depth",
}


def model_role(model: Any) -> str:
    """``student``, ``teacher``, ``semantic`` or ``unknown`` (from the model's output kind)."""
    if getattr(model, "is_teacher", False):
        return "teacher"
    return ROLE_OF_OUTPUT.get(str(getattr(model, "output_kind", "")), "unknown")


def describe_role(model: Any) -> str:
    """E.g. ``a teacher (arch teacher_sim, relative depth, GT-aligned)``."""
    role = model_role(model)
    arch = getattr(model, "arch", "") or type(model).__name__
    what = WHAT_ROLE_GIVES.get(role, f"output {getattr(model, 'output_kind', '?')!r}")
    noun = ROLE_NOUN[role]
    article = "an" if noun[0] in "aeiou" else "a"
    return f"{article} {noun} (arch {arch}, {what})"


def check_role(model: Any, role: str | None, source: str | Path) -> None:
    """Raise :class:`CheckpointError` naming ``source`` when ``model`` cannot play ``role``
    (``None``: any role)."""
    if role is None:
        return
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r} (roles: {', '.join(ROLES)})")
    actual = model_role(model)
    if actual == role:
        return
    hint = f"; pass it as --{actual}" if actual in ROLES else ""
    raise CheckpointError(source, f"the checkpoint is {describe_role(model)}, not a {role} "
                                  f"({WHAT_ROLE_GIVES[role]}){hint}")
