"""Intrinsic decomposition branch on the student encoder (docs/METHOD.md, P3).

``image ~= albedo * shading + residual``:

* ``albedo``   (B, V, 3, H, W) in (0, 1) (sigmoid) - the view-independent surface colour,
* ``shading``  (B, V, 1, H, W) > 0 (softplus, ~1 at initialisation) - grey diffuse lighting,
* ``residual`` (B, V, 3, H, W) >= 0 (softplus) - the non-Lambertian part (specular
  highlights, mirror reflections) that the Lambertian model cannot explain.

:class:`ReflectionSSLNet` is the shipped reflection-aware model: the surround student
(:class:`~fsmde_gui.models.student.StudentNet`, metric depth with bins) plus an
:class:`IntrinsicHead` decoding the student's stride-4..16 features together with a
full-resolution image stem. Its ``forward`` returns the student's dict plus the three
components; :func:`run_decomposition` runs it on a SurroundFrame and adds the reflection
mask / score of :mod:`fsmde_gui.models.reflection`.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.types import DepthResult
from .blocks import ConvBNReLU, Normalize, UpFuse, fold_views, unfold_views
from .checkpoint import load_checkpoint
from .reflection import reflection_outputs
from .student import StudentConfig, StudentNet, upgrade_student_config

ARCH = "reflection_ssl"


@dataclass
class IntrinsicConfig:
    """Widths of the decomposition head (plain values; saved in checkpoints)."""

    widths: tuple[int, ...] = (48, 32, 24)  # decoder at 1/8, 1/4, 1/2
    stem: int = 16  # full-resolution image stem
    residual_bias: float = -4.0  # softplus(-4) ~ 0.018: residual starts near zero
    # residual = softplus(gain * z): the same start, but each optimiser step moves the
    # residual's logits ``gain`` times further. At gain 1 (older checkpoints) the residual
    # barely leaves softplus's flat tail within a few thousand Adam steps (d/dz = 0.018).
    residual_gain: float = 1.0

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != 3:
            raise ValueError("IntrinsicConfig.widths needs 3 values (1/8, 1/4, 1/2)")


class IntrinsicHead(nn.Module):
    """Decoder from student features (strides 4, 8, 16) + image stem -> albedo/shading/residual."""

    def __init__(self, feature_widths: tuple[int, int, int], cfg: IntrinsicConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or IntrinsicConfig()
        c4, c8, c16 = feature_widths
        w = cfg.widths
        self.up8 = UpFuse(c16, c8, w[0])
        self.up4 = UpFuse(w[0], c4, w[1])
        self.stem = nn.Sequential(ConvBNReLU(3, cfg.stem, 3), ConvBNReLU(cfg.stem, cfg.stem, 3))
        self.down = ConvBNReLU(cfg.stem, cfg.stem, 3, stride=2)
        self.up2 = UpFuse(w[1], cfg.stem, w[2])
        self.up1 = UpFuse(w[2], cfg.stem, w[2])
        self.out = nn.Conv2d(w[2], 7, 3, padding=1)
        with torch.no_grad():
            self.out.bias.zero_()
            self.out.bias[3] = 0.55  # softplus(0.55) ~ 1: shading starts at 1
            self.out.bias[4:] = cfg.residual_bias / cfg.residual_gain
            self.out.weight[4:] /= cfg.residual_gain  # same initial output as gain 1

    def forward(self, x: torch.Tensor, f4: torch.Tensor, f8: torch.Tensor, f16: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """All inputs folded: ``x (N,3,H,W)`` normalised image, features ``(N,C,h,w)``."""
        full = self.stem(x)
        half = self.down(full)
        y = self.up8(f16, f8)
        y = self.up4(y, f4)
        y = self.up2(y, half)
        y = self.up1(y, full)
        o = self.out(y)
        return {"albedo": torch.sigmoid(o[:, 0:3]), "shading": F.softplus(o[:, 3:4]),
                "residual": F.softplus(self.cfg.residual_gain * o[:, 4:7])}


@dataclass
class ReflectionSSLConfig:
    student: dict = field(default_factory=dict)  # StudentConfig overrides
    intrinsic: dict = field(default_factory=dict)  # IntrinsicConfig overrides
    quantile: float = 0.99  # reflection test (chi-square quantile, 3 dof; the recipe sets it)
    min_residual: float = 0.03

    def to_dict(self) -> dict:
        d = asdict(self)
        d["student"] = StudentConfig.from_dict(dict(self.student)).to_dict()
        ic = asdict(IntrinsicConfig(**dict(self.intrinsic)))
        d["intrinsic"] = {k: list(v) if isinstance(v, tuple) else v for k, v in ic.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "ReflectionSSLConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown ReflectionSSLConfig keys: {sorted(unknown)}")
        return cls(**data)


class ReflectionSSLNet(nn.Module):
    """Student depth network + intrinsic decomposition head (one shared encoder)."""

    arch = ARCH
    output_kind = "metric"

    def __init__(self, cfg: ReflectionSSLConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ReflectionSSLConfig()
        self.student = StudentNet(StudentConfig.from_dict(dict(cfg.student)))
        w = self.student.cfg.widths
        self.intrinsic = IntrinsicHead((w[1], w[2], w[3]), IntrinsicConfig(**dict(cfg.intrinsic)))
        self.normalize = Normalize()
        # optimiser steps seen by the reflection-ssl recipe (drives its mask warm-up; a
        # buffer so that it is saved with the weights and survives resume)
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))

    @property
    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.student.cfg.input_size)

    def forward(self, images: torch.Tensor, decompose: bool = True) -> dict:
        out = self.student(images)
        if not decompose:
            return out
        x, b, v = fold_views(images)
        f4, f8, f16 = (f.flatten(0, 1) for f in out["features"][:3])
        comp = self.intrinsic(self.normalize(x), f4, f8, f16)
        out.update({k: unfold_views(t, b, v) for k, t in comp.items()})
        return out


def build_reflection_ssl(config: dict) -> nn.Module:
    """Arch-registry builder (``arch == "reflection_ssl"``, see models/archs.py)."""
    return ReflectionSSLNet(ReflectionSSLConfig.from_dict(dict(config)))


def upgrade_reflection_ssl_config(config: dict) -> dict:
    """Reflection checkpoints from before ``bin_space``: their student has the linear bins."""
    config = dict(config)
    config["student"] = upgrade_student_config(dict(config.get("student", {})))
    return config


_MODEL_CACHE: dict[tuple[str, float], nn.Module] = {}


def load_reflection_model(path: str | Path) -> ReflectionSSLNet:
    """Load (and cache per file version) a ``reflection_ssl`` checkpoint, eval mode."""
    path = Path(path)
    key = (str(path.resolve()), os.path.getmtime(path) if path.exists() else 0.0)
    if key not in _MODEL_CACHE:
        model, _ = load_checkpoint(path, expected_arch=ARCH)
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = model
    return _MODEL_CACHE[key]


def frame_images_tensor(frame, wh: tuple[int, int]) -> torch.Tensor:
    """(1, 6, 3, H, W) float [0, 1] of the frame's views resized to ``wh`` (W, H)."""
    imgs = torch.from_numpy(np.ascontiguousarray(frame.images)).permute(0, 3, 1, 2).float() / 255.0
    if tuple(imgs.shape[-2:]) != (wh[1], wh[0]):
        imgs = F.interpolate(imgs, size=(wh[1], wh[0]), mode="bilinear", align_corners=False,
                             antialias=True)
    return imgs[None]


@torch.no_grad()
def run_decomposition(model: ReflectionSSLNet, frame, quantile: Optional[float] = None,
                      input_size: Optional[tuple[int, int]] = None) -> dict[str, np.ndarray]:
    """Depth, decomposition and reflection mask of one SurroundFrame at the frame's size
    (the model runs at ``input_size`` (W, H), default its own).

    Returns numpy arrays: ``depth (6,H,W)``, ``albedo (6,H,W,3)``, ``shading (6,H,W)``,
    ``residual (6,H,W,3)``, ``reflection_mask (6,H,W) bool``, ``reflection_score (6,H,W)``.
    """
    model.eval()
    h, w = frame.views[0].hw
    images = frame_images_tensor(frame, input_size or model.input_size)
    out = model(images)
    mask, score = reflection_outputs(out["residual"][0], (h, w),
                                     quantile=quantile or model.cfg.quantile,
                                     min_residual=model.cfg.min_residual)

    def up(t: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:  # (6, C, h, w) -> (6,C,H,W)
        if tuple(t.shape[-2:]) == (h, w):
            return t
        if mode == "nearest":
            return F.interpolate(t, size=(h, w), mode="nearest")
        return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)

    return {
        "depth": up(out["depth"][0])[:, 0].numpy().astype(np.float32),
        "albedo": up(out["albedo"][0]).permute(0, 2, 3, 1).numpy().astype(np.float32),
        "shading": up(out["shading"][0])[:, 0].numpy().astype(np.float32),
        "residual": up(out["residual"][0]).permute(0, 2, 3, 1).numpy().astype(np.float32),
        "reflection_mask": mask,
        "reflection_score": score,
    }


def predict_depth_result(model: ReflectionSSLNet, frame, model_name: str = "student_reflection_ssl"):
    """A :class:`~fsmde_gui.core.types.DepthResult` with ``reflection_mask`` /
    ``reflection_score`` filled (what ``DepthEstimator.predict`` returns for this arch)."""
    t0 = time.perf_counter()
    out = run_decomposition(model, frame)
    ms = (time.perf_counter() - t0) * 1000.0
    return DepthResult(depth=out["depth"], model_name=model_name,
                       reflection_mask=out["reflection_mask"],
                       reflection_score=out["reflection_score"],
                       timings_ms={"total": ms})
