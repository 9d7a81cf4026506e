"""What every relative-depth teacher looks like (bundled sim teacher, Depth Anything V2, BriGeS).

A teacher is an ``nn.Module`` whose ``forward(images (B, V, 3, H, W) in [0, 1])`` returns::

    {"relative": (B, V, 1, H, W),          # affine-invariant output, > 0
     "features": [(B, V, C, h, w), ...]}   # for view-relational KD

``output_kind`` says what ``relative`` is: ``"disparity"`` (larger = nearer; the default and
what all bundled teachers produce) or ``"depth"`` (affine-invariant depth). Alignment to
metric depth (``alignment.py``) fits scale and shift in that space. ``input_size`` (W, H) is
the size :class:`~fsmde_gui.models.inference.DepthEstimator` resizes frames to (``None``:
the model resizes by itself, as the Depth Anything adapter does).
"""
from __future__ import annotations

from torch import nn

OUTPUT_KINDS = ("disparity", "depth")


class RelativeDepthTeacher(nn.Module):
    """Base class of teachers: subclasses implement ``forward`` and set ``arch``."""

    arch: str = ""
    output_kind: str = "disparity"
    is_teacher = True

    @property
    def input_size(self) -> tuple[int, int] | None:
        cfg = getattr(self, "cfg", None)
        return tuple(cfg.input_size) if cfg is not None and hasattr(cfg, "input_size") else None


def is_teacher(model: nn.Module) -> bool:
    """True for models whose output is relative depth (``relative`` key), not metric depth."""
    return bool(getattr(model, "is_teacher", False)) or getattr(model, "output_kind", "") in OUTPUT_KINDS
