"""The bundled relative-depth teacher: a much larger ResNet-style encoder-decoder.

It plays the role a depth foundation model plays in P1: trained (``fsmde train --recipe
teacher``) on many varied simulator scenes with dense GT and a scale-and-shift-invariant loss,
it outputs only *relative* depth. Output is affine-invariant **disparity** (larger = nearer),
positive through a softplus head; per-image normalisation is the loss's / alignment's job.

``forward(images (B, V, 3, H, W) in [0, 1]) -> dict``: ``relative (B, V, 1, H, W)`` and
``features``: encoder outputs at strides 4, 8, 16, 32, each ``(B, V, C, h, w)`` (same strides
as the student's, for view-relational KD).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .net_config import EncoderDecoderConfig
from .blocks import run_encoder, ConvBNReLU, Normalize, ResidualBlock, UpFuse, fold_views, unfold_views
from .teacher_base import RelativeDepthTeacher


@dataclass
class TeacherConfig(EncoderDecoderConfig):
    """Hyper-parameters of :class:`TeacherSimNet` (about 10 M parameters by default)."""

    widths: tuple[int, ...] = (32, 64, 128, 256, 384)  # stem (1/2), stages at 1/4 .. 1/32
    depths: tuple[int, ...] = (2, 2, 2, 2)  # residual blocks per stage
    decoder_widths: tuple[int, ...] = (256, 128, 64, 48)  # at 1/16, 1/8, 1/4, 1/2
    input_size: tuple[int, int] = (288, 160)  # (W, H) the model is run at by DepthEstimator


class TeacherSimNet(RelativeDepthTeacher):
    """Relative-depth (disparity) teacher, ResNet-18-like encoder + full-conv skip decoder."""

    arch = "teacher_sim"
    output_kind = "disparity"

    def __init__(self, cfg: TeacherConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TeacherConfig()
        w = cfg.widths
        self.normalize = Normalize()
        self.stem = nn.Sequential(ConvBNReLU(3, w[0], 3, stride=2), ConvBNReLU(w[0], w[0], 3))
        stages = []
        for i, n in enumerate(cfg.depths):
            blocks = [ResidualBlock(w[i], w[i + 1], stride=2)]
            blocks += [ResidualBlock(w[i + 1], w[i + 1]) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        d = cfg.decoder_widths
        skips = (w[3], w[2], w[1], w[0])
        cins = (w[4],) + d[:-1]
        self.decoder = nn.ModuleList(UpFuse(ci, cs, co, separable=False)
                                     for ci, cs, co in zip(cins, skips, d))
        self.head = nn.Sequential(ConvBNReLU(d[-1], d[-1], 3), nn.Conv2d(d[-1], 1, 1))

    @property
    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    def forward(self, images: torch.Tensor) -> dict:
        x, b, v = fold_views(images)
        height, width = x.shape[-2:]
        half, feats = run_encoder(self.stem, self.stages, self.normalize(x))
        y = feats[-1]
        for up, skip in zip(self.decoder, (feats[2], feats[1], feats[0], half)):
            y = up(y, skip)
        disparity = F.softplus(self.head(y).float())
        disparity = F.interpolate(disparity, size=(height, width), mode="bilinear",
                                  align_corners=False)
        return {"relative": unfold_views(disparity, b, v),
                "features": [unfold_views(f, b, v) for f in feats]}
