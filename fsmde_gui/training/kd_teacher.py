"""The kd recipe's frozen teacher: a relative-depth checkpoint (``teacher_sim``, a fine-tuned
teacher's ``final.pt``) or real Depth Anything V2 weights in a local folder (``dav2:<folder>``,
the foundation teacher P1 distils), and the teacher feature map VRKD reads."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import TrainingError
from ..models.checkpoint import load_checkpoint
from ..models.depth_anything import DepthAnythingTeacher
from ..models.registry import dav2_folder, is_dav2, resolve_model


def load_kd_teacher(spec: str) -> tuple[nn.Module, dict]:
    """``(teacher in eval mode, meta)`` for ``teacher_checkpoint``; it must give disparity."""
    if is_dav2(spec):
        where = dav2_folder(spec)
        teacher = DepthAnythingTeacher.from_pretrained(where)
        meta = {"arch": "dav2", "source": spec}
    else:
        where = resolve_model(spec)
        teacher, meta = load_checkpoint(where)
    if getattr(teacher, "output_kind", "") != "disparity":
        raise TrainingError(f"{where}: kd needs a relative (disparity) teacher, got "
                            f"output_kind={getattr(teacher, 'output_kind', None)!r}")
    return teacher.eval(), meta


def teacher_feature(features: Sequence[torch.Tensor], target_hw: tuple[int, int]) -> torch.Tensor:
    """The teacher map ``(B, V, C, h, w)`` nearest in size to the student's ``target_hw``.

    A map larger than that (Depth Anything's patch grid, 37x63 tokens at 518 px) is average-
    pooled down to ``target_hw``: VRKD pools border strips to a few tokens anyway, and the
    teacher cache then holds a student-sized map (0.8 MB a frame instead of about 21)."""
    area = target_hw[0] * target_hw[1]
    feat = min(features, key=lambda f: abs(f.shape[-2] * f.shape[-1] - area))
    if feat.shape[-2] * feat.shape[-1] > area:
        b, v = feat.shape[:2]
        feat = F.adaptive_avg_pool2d(feat.flatten(0, 1).float(), target_hw).unflatten(0, (b, v))
    return feat
