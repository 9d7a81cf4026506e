"""The surround-view student: a lightweight CNN encoder-decoder ending in the depth binning module.

Input ``images (B, V, 3, H, W)`` in ``[0, 1]`` (V = 6 views, folded into the batch
internally). Encoder: strided stem + MobileNetV2-style inverted-residual stages at strides
4, 8, 16, 32; decoder: bilinear (or nearest) upsampling + skip + depthwise-separable fusion up to 1/2
resolution; head: :class:`~fsmde_gui.models.binning.DepthBinning` (adaptive metric bins from
the bottleneck, per-pixel bin probabilities at 1/2 resolution), depth upsampled to the input
size. An optional learned per-camera embedding is added to the bottleneck, so the bin head
can learn that (say) the front camera sees further than the side ones.

``forward`` returns a dict:

* ``depth (B, V, 1, H, W)`` metric metres at input resolution,
* ``bin_centers (B, V, N)`` sorted, inside ``[min_depth, max_depth]``,
* ``bin_probs`` / ``bin_logits`` ``(B, V, N, h, w)`` with ``(h, w)`` the decoder resolution
  (about ``H/2, W/2``),
* ``features``: encoder outputs at strides 4, 8, 16, 32, each ``(B, V, C, h, w)`` (for VRKD).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .binning import DepthBinning
from .net_config import EncoderDecoderConfig
from .blocks import (run_encoder, ConvBNReLU, InvertedResidual, Normalize, UpFuse, fold_views,
                     unfold_views, upsample_to)
from ..core.types import MAX_DEPTH_M


@dataclass
class StudentConfig(EncoderDecoderConfig):
    """Hyper-parameters of :class:`StudentNet` (plain values: saved in checkpoints as a dict)."""

    num_bins: int = 32
    bin_space: str = "log"  # "log" (spread floor, docs/METHOD.md) or "linear" (first release)
    bin_floor: float = 0.5  # share of the (log) range spread evenly over the bins
    min_depth: float = 0.5
    max_depth: float = MAX_DEPTH_M
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # stem (1/2), stages at 1/4 .. 1/32
    depths: tuple[int, ...] = (2, 2, 3, 2)  # inverted-residual blocks per stage
    decoder_widths: tuple[int, ...] = (128, 64, 48, 32)  # at 1/16, 1/8, 1/4, 1/2
    decoder_upsample: str = "bilinear"  # or "nearest" (the lite student, blocks.UpFuse)
    expand: int = 4
    bin_hidden: int = 128
    num_views: int = 6
    camera_embedding: bool = True
    input_size: tuple[int, int] = (288, 160)  # (W, H) the model is run at by DepthEstimator


LEGACY_BINNING = {"bin_space": "linear", "bin_floor": 0.0}
"""The binning of checkpoints written before ``bin_space`` existed (their configs lack it)."""


def upgrade_student_config(config: dict) -> dict:
    """A stored student config with the first release's binning filled in where it is missing."""
    return LEGACY_BINNING | dict(config)


class StudentNet(nn.Module):
    """Lightweight surround-view metric depth network (about 1-2 M parameters by default)."""

    arch = "student"
    output_kind = "metric"

    def __init__(self, cfg: StudentConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or StudentConfig()
        w = cfg.widths
        self.normalize = Normalize()
        self.stem = ConvBNReLU(3, w[0], 3, stride=2)
        stages = []
        for i, n in enumerate(cfg.depths):
            blocks = [InvertedResidual(w[i], w[i + 1], stride=2, expand=cfg.expand)]
            blocks += [InvertedResidual(w[i + 1], w[i + 1], 1, cfg.expand) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.camera_embed = (nn.Parameter(torch.zeros(cfg.num_views, w[4]))
                             if cfg.camera_embedding else None)
        d = cfg.decoder_widths
        skips = (w[3], w[2], w[1], w[0])
        cins = (w[4],) + d[:-1]
        self.decoder = nn.ModuleList(UpFuse(ci, cs, co, upsample=cfg.decoder_upsample)
                                     for ci, cs, co in zip(cins, skips, d))
        self.binning = DepthBinning(w[4], d[-1], cfg.num_bins, cfg.min_depth, cfg.max_depth,
                                    cfg.bin_hidden, space=cfg.bin_space, floor=cfg.bin_floor)

    @property
    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    def forward(self, images: torch.Tensor) -> dict:
        x, b, v = fold_views(images)
        height, width = x.shape[-2:]
        half, feats = run_encoder(self.stem, self.stages, self.normalize(x))
        bottleneck = feats[-1]
        if self.camera_embed is not None:
            if v > self.cfg.num_views:
                raise ValueError(f"StudentNet was built for {self.cfg.num_views} views, got {v}")
            emb = self.camera_embed[:v].to(bottleneck.dtype)
            bottleneck = (unfold_views(bottleneck, b, v) + emb[None, :, :, None, None]).flatten(0, 1)
        y = bottleneck
        for up, skip in zip(self.decoder, (feats[2], feats[1], feats[0], half)):
            y = up(y, skip)
        out = self.binning(bottleneck, y)
        depth = upsample_to(out["depth"], (height, width), "bilinear")
        return {
            "depth": unfold_views(depth, b, v),
            "bin_centers": unfold_views(out["bin_centers"], b, v),
            "bin_probs": _unfold_probs(out["bin_probs"], b, v, self.binning.nhwc),
            "bin_logits": unfold_views(out["bin_logits"], b, v),
            "features": [unfold_views(f, b, v) for f in feats],
        }


def _unfold_probs(probs: torch.Tensor, b: int, v: int, nhwc: bool) -> torch.Tensor:
    """``(B*V, K, h, w)`` -> ``(B, V, K, h, w)``. NHWC probabilities (the inference head) are
    unfolded in their NHWC layout and permuted last, so that an exported graph ends in one
    Transpose into the output instead of a Transpose plus a copying Reshape."""
    if not nhwc:
        return unfold_views(probs, b, v)
    return unfold_views(probs.permute(0, 2, 3, 1), b, v).permute(0, 1, 4, 2, 3)
