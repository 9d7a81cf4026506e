"""Depth binning module (docs/METHOD.md, P1): adaptive metric bins + per-pixel bin probabilities.

* A head on *global* features predicts ``N`` positive widths (softmax); their cumulative sum
  gives the bin edges, and the mid-points are sorted metric **bin centres** ``c_1 < ... < c_N``
  inside ``[min_depth, max_depth]`` (per image).
* A *per-pixel* head predicts ``N`` logits; softmax over bins gives probabilities ``p(x)``.
* Depth is the expectation ``d(x) = sum_i p_i(x) c_i`` (hybrid regression).

Two ways to lay the widths on the depth axis (``space``):

* ``"log"`` (the default of new students): the widths split ``[log d_min, log d_max]``, and a
  **spread floor** ``floor`` gives every bin at least ``floor / N`` of that log range
  (``w = floor / N + (1 - floor) * softmax``). The centres then cannot collapse: neighbours
  differ by at least ``exp(floor / N * log(d_max / d_min))`` (8 % for 32 bins, floor 0.5,
  0.5-80 m), and a near bin is as fine, relative to its depth, as a far one.
* ``"linear"`` (the first release; old checkpoints): the widths split ``[d_min, d_max]`` in
  metres with no floor. Measured: the softmax collapses onto a few wide bins (one centre
  between 2 and 78 m on a sample frame).

Probabilities carry the scene's shape (scale-invariant), centres carry the metric scale:
that split is what cross-interaction KD distils into.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from .blocks import SeparableConv
from ..core.types import MAX_DEPTH_M

BIN_SPACES = ("log", "linear")


def centers_from_widths(widths: torch.Tensor, min_depth: float, max_depth: float,
                        space: str = "linear") -> torch.Tensor:
    """Normalised widths ``(..., N)`` (positive, summing to 1) -> sorted metric centres ``(..., N)``.

    ``space="linear"``: widths are fractions of ``[min_depth, max_depth]`` in metres;
    ``"log"``: of ``[log min_depth, log max_depth]`` (centres = exp of the log mid-points).
    """
    if space == "log":
        lo, hi = math.log(min_depth), math.log(max_depth)
        scaled = widths * (hi - lo)
        right = lo + torch.cumsum(scaled, dim=-1)
        return torch.exp(right - 0.5 * scaled)
    if space != "linear":
        raise ValueError(f"bin space must be one of {BIN_SPACES}, got {space!r}")
    scaled = widths * (max_depth - min_depth)
    edges = min_depth + torch.cumsum(scaled, dim=-1)  # right edges
    return edges - 0.5 * scaled


def expected_depth(probs: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Expectation over bins: ``probs (..., N, h, w)`` x ``centers (..., N)`` -> ``(..., 1, h, w)``."""
    return (probs * centers[..., None, None]).sum(dim=-3, keepdim=True)


def softmax_expectation_nhwc(logits: torch.Tensor, centers: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin softmax and expected depth of channels-last ``logits (N, K, h, w)``: the softmax
    runs over the contiguous last axis of the NHWC view and the expectation is one batched
    matrix-vector product (no ``(N, K, h, w)`` temporary), in float32 even under autocast.
    Returns ``probs (N, K, h, w)`` (channels-last strides) and ``depth (N, 1, h, w)``."""
    n, k, h, w = logits.shape
    # (N, h*w, K): the flat view also keeps ONNX Runtime's transpose optimiser from moving
    # the softmax back onto the channel axis
    flat = logits.float().permute(0, 2, 3, 1).reshape(n, h * w, k)
    probs = torch.softmax(flat, dim=-1)
    device = probs.device.type
    ctx = (torch.autocast(device, enabled=False) if torch.is_autocast_enabled(device)
           else contextlib.nullcontext())
    with ctx:
        depth = torch.bmm(probs, centers.float()[:, :, None])  # (N, h*w, 1)
    return probs.view(n, h, w, k).permute(0, 3, 1, 2), depth.view(n, 1, h, w)


class DepthBinning(nn.Module):
    """The binning head. ``forward(global_feat, pixel_feat) -> dict``.

    ``global_feat``: ``(N, Cg, h', w')`` (bottleneck; average-pooled here), ``pixel_feat``:
    ``(N, Cp, h, w)`` (decoder output). Returns ``bin_centers (N, K)``, ``bin_logits`` /
    ``bin_probs`` ``(N, K, h, w)`` and ``depth (N, 1, h, w)``.

    ``nhwc = True`` (inference and ONNX export; training keeps ``False``) computes the
    softmax and expectation by :func:`softmax_expectation_nhwc`: same values, about a third
    of the time of a softmax over the channel axis (torch and ONNX Runtime alike).
    """

    nhwc = False

    def __init__(self, global_channels: int, pixel_channels: int, num_bins: int = 32,
                 min_depth: float = 0.5, max_depth: float = MAX_DEPTH_M, hidden: int = 128,
                 space: str = "linear", floor: float = 0.0):
        super().__init__()
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        if space not in BIN_SPACES:
            raise ValueError(f"bin space must be one of {BIN_SPACES}, got {space!r}")
        low = 0 < min_depth if space == "log" else 0 <= min_depth
        if not (low and min_depth < max_depth):
            raise ValueError(f"need {'0 <' if space == 'log' else '0 <='} min_depth < max_depth, "
                             f"got {min_depth}, {max_depth}")
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"bin spread floor must be in [0, 1), got {floor}")
        self.num_bins = int(num_bins)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.space = space
        self.floor = float(floor)
        self.width_head = nn.Sequential(
            nn.Linear(global_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_bins))
        self.pixel_head = nn.Sequential(
            SeparableConv(pixel_channels, pixel_channels),
            nn.Conv2d(pixel_channels, num_bins, 1))

    def centers(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled global features ``(N, Cg)`` -> sorted metric centres ``(N, K)``."""
        widths = torch.softmax(self.width_head(pooled).float(), dim=-1)
        if self.floor > 0:
            widths = self.floor / self.num_bins + (1.0 - self.floor) * widths
        return centers_from_widths(widths, self.min_depth, self.max_depth, self.space)

    def forward(self, global_feat: torch.Tensor, pixel_feat: torch.Tensor) -> dict:
        centers = self.centers(global_feat.mean(dim=(-2, -1)))
        logits = self.pixel_head(pixel_feat)
        if self.nhwc:  # set for inference / export (fast_inference.optimize_for_inference_)
            probs, depth = softmax_expectation_nhwc(logits, centers)
        else:
            probs = torch.softmax(logits.float(), dim=1)
            depth = expected_depth(probs, centers)
        return {"bin_centers": centers, "bin_logits": logits, "bin_probs": probs, "depth": depth}
