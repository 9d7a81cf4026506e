"""Depth binning module (METHOD.md, P1): adaptive metric bins + per-pixel bin probabilities.

* A head on *global* features predicts ``N`` positive widths (softmax x depth range); their
  cumulative sum gives the bin edges, and the mid-points are sorted metric **bin centres**
  ``c_1 < ... < c_N`` inside ``[min_depth, max_depth]`` (per image).
* A *per-pixel* head predicts ``N`` logits; softmax over bins gives probabilities ``p(x)``.
* Depth is the expectation ``d(x) = sum_i p_i(x) c_i`` (hybrid regression).

Probabilities carry the scene's shape (scale-invariant), centres carry the metric scale:
that split is what cross-interaction KD distils into.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import SeparableConv


def centers_from_widths(widths: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Normalised widths ``(..., N)`` (positive, summing to 1) -> sorted metric centres ``(..., N)``."""
    scaled = widths * (max_depth - min_depth)
    edges = min_depth + torch.cumsum(scaled, dim=-1)  # right edges
    return edges - 0.5 * scaled


def expected_depth(probs: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Expectation over bins: ``probs (..., N, h, w)`` x ``centers (..., N)`` -> ``(..., 1, h, w)``."""
    return (probs * centers[..., None, None]).sum(dim=-3, keepdim=True)


class DepthBinning(nn.Module):
    """The binning head. ``forward(global_feat, pixel_feat) -> dict``.

    ``global_feat``: ``(N, Cg, h', w')`` (bottleneck; average-pooled here), ``pixel_feat``:
    ``(N, Cp, h, w)`` (decoder output). Returns ``bin_centers (N, K)``, ``bin_logits`` /
    ``bin_probs`` ``(N, K, h, w)`` and ``depth (N, 1, h, w)``.
    """

    def __init__(self, global_channels: int, pixel_channels: int, num_bins: int = 32,
                 min_depth: float = 0.5, max_depth: float = 80.0, hidden: int = 128):
        super().__init__()
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        if not 0 <= min_depth < max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
        self.num_bins = int(num_bins)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.width_head = nn.Sequential(
            nn.Linear(global_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_bins))
        self.pixel_head = nn.Sequential(
            SeparableConv(pixel_channels, pixel_channels),
            nn.Conv2d(pixel_channels, num_bins, 1))

    def forward(self, global_feat: torch.Tensor, pixel_feat: torch.Tensor) -> dict:
        pooled = global_feat.mean(dim=(-2, -1))
        widths = torch.softmax(self.width_head(pooled).float(), dim=-1)
        centers = centers_from_widths(widths, self.min_depth, self.max_depth)
        logits = self.pixel_head(pixel_feat)
        probs = torch.softmax(logits.float(), dim=1)
        depth = expected_depth(probs, centers)
        return {"bin_centers": centers, "bin_logits": logits, "bin_probs": probs, "depth": depth}
