"""Typed results of a frame's analysis (no Qt): depth metrics per camera and their mean,
cross-view consistency rows per adjacent pair, and the key of a coloured fused cloud.

``to_dict()`` gives the JSON layout of the frame export (camera names and ``"mean"`` as keys),
unchanged from the nested dicts these classes replace.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterable, Iterator, Optional

import numpy as np

from ..core.metrics import METRIC_NAMES
from ..core.types import CAMERA_NAMES


@dataclass(frozen=True)
class CameraMetrics:
    """``core.metrics.depth_metrics`` of one camera (or their mean: ``count`` None)."""
    abs_rel: float
    sq_rel: float
    rmse: float
    rmse_log: float
    a1: float
    a2: float
    a3: float
    count: Optional[int] = None  # valid GT pixels
    scale: Optional[float] = None  # median-scaling factor, when one was applied

    @classmethod
    def from_dict(cls, d: dict) -> "CameraMetrics":
        count = d.get("count")
        scale = d.get("scale")
        return cls(**{k: float(d[k]) for k in METRIC_NAMES},
                   count=None if count is None else int(count),
                   scale=None if scale is None else float(scale))

    @classmethod
    def mean_of(cls, items: Iterable["CameraMetrics"]) -> "CameraMetrics":
        """The mean of every metric (and of ``scale`` where all have one); no ``count``."""
        items = list(items)
        if not items:
            raise ValueError("no metrics to average")
        scales = [m.scale for m in items]
        return cls(**{k: float(np.mean([getattr(m, k) for m in items])) for k in METRIC_NAMES},
                   scale=None if None in scales else float(np.mean(scales)))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass
class FrameMetrics:
    """One model's metrics on one frame: per camera name, and the mean over those cameras."""
    per_camera: dict[str, CameraMetrics]
    mean: CameraMetrics

    @classmethod
    def from_cameras(cls, per_camera: dict[str, CameraMetrics]) -> "FrameMetrics":
        return cls(dict(per_camera), CameraMetrics.mean_of(per_camera.values()))

    def row(self, name: str) -> Optional[CameraMetrics]:
        """A camera's metrics, or the mean for ``"mean"``; None for a camera without GT."""
        return self.mean if name == "mean" else self.per_camera.get(name)

    def to_dict(self) -> dict:
        out = {name: m.to_dict() for name, m in self.per_camera.items()}
        out["mean"] = self.mean.to_dict()
        return out


def pair_of(name: str) -> Optional[tuple[int, int]]:
    """``"CAM_A|CAM_B"`` -> the camera indices, or None for names of another rig."""
    a, _, b = name.partition("|")
    if a in CAMERA_NAMES and b in CAMERA_NAMES:
        return (CAMERA_NAMES.index(a), CAMERA_NAMES.index(b))
    return None


@dataclass(frozen=True)
class PairConsistency:
    """Mean 3D disagreement (m) of two adjacent cameras on their overlap; NaN: no match."""
    name: str  # "CAM_A|CAM_B"
    value: float
    pair: Optional[tuple[int, int]] = None

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.value))


@dataclass
class FrameConsistency:
    """One model's cross-view consistency on one frame: a row per pair and the mean."""
    rows: list[PairConsistency] = field(default_factory=list)
    mean: float = float("nan")

    @classmethod
    def from_dict(cls, d: dict) -> "FrameConsistency":
        """From ``core.consistency.cross_view_consistency`` (pair names and ``"mean"``)."""
        rows = [PairConsistency(k, float(v), pair_of(k)) for k, v in d.items()
                if k != "mean" and isinstance(v, (int, float, np.floating))]
        return cls(rows, float(d.get("mean", float("nan"))))

    def value(self, name: str) -> Optional[float]:
        """The value of pair ``name`` (``"CAM_A|CAM_B"``), the mean for ``"mean"``, else None."""
        if name == "mean":
            return self.mean
        return next((r.value for r in self.rows if r.name == name), None)

    def finite_values(self) -> list[float]:
        return [r.value for r in self.rows if r.finite]

    def __iter__(self) -> Iterator[PairConsistency]:
        return iter(self.rows)

    def to_dict(self) -> dict:
        out = {r.name: r.value for r in self.rows}
        out["mean"] = self.mean
        return out


@dataclass(frozen=True)
class CloudRequest:
    """Which fused cloud colouring: a model's points coloured by ``scheme`` ("error",
    "consistency", "overlap"); the key of ``FrameAnalysis.cloud_colors``."""
    model: str
    scheme: str
