"""The two types every layer meets at: ``SurroundFrame`` (input) and ``DepthResult`` (output).

Conventions
-----------
* Cameras are always ordered as :data:`CAMERA_NAMES` (nuScenes channel names).
* ``K`` is the 3x3 pinhole intrinsic matrix of the image *as stored in the frame*
  (after any resize), OpenCV convention (x right, y down, z forward).
* ``cam_to_ego`` is a 4x4 float64 rigid transform camera -> ego (vehicle) frame;
  ego frame is x forward, y left, z up (nuScenes convention).
* Depth maps are float32 metres (z-depth along the optical axis), 0 = no value.
* 3D boxes (:class:`Box3D`) are in the ego frame of the frame's timestamp (the LiDAR's),
  nuScenes convention: ``size = (width, length, height)``, length along the box's x axis.

Sizes and shapes (one order per name, in every module of the package):

* an image (or window, video frame) **size** is ``(W, H)``, OpenCV's ``dsize`` order and the
  CLI's ``WxH``; named ``*_size`` (``input_size``, ``image_size``), ``wh`` or ``*_wh``;
* an array **shape** is ``(H, W)``, numpy's and torch's order; named ``hw``, ``*_hw``
  (:attr:`CameraView.hw`) or ``shape``;
* a bare ``size`` is a 3D box's ``(width, length, height)`` (metres); a mesh box along its own
  axes is ``extent_xyz``. No parameter, field or constant holding a 2D size is a bare
  ``size`` (``tests/test_code_conventions.py`` scans for it).

Persisted keys keep their names: ``image_size`` (train configs) and ``input_size`` (model
cards, checkpoints, ONNX metadata) hold ``[W, H]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

MAX_DEPTH_M = 80.0
"""The depth range's far end (metres): the evaluation cap of P1 / SurroundDepth on nuScenes and
the default of every depth-range argument (training uses ``TrainConfig.max_depth``)."""

CAMERA_NAMES: tuple[str, ...] = (
    "CAM_FRONT_LEFT",
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_LEFT",
    "CAM_BACK",
    "CAM_BACK_RIGHT",
)
"""Camera order everywhere; also the on-screen layout (FL F FR / BL B BR)."""

SHORT_NAMES = {
    "CAM_FRONT_LEFT": "FL",
    "CAM_FRONT": "F",
    "CAM_FRONT_RIGHT": "FR",
    "CAM_BACK_LEFT": "BL",
    "CAM_BACK": "B",
    "CAM_BACK_RIGHT": "BR",
}


@dataclass
class CameraView:
    """One camera of one frame. Optional GT fields are None when the source lacks them."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray  # (3, 3) float64
    cam_to_ego: np.ndarray  # (4, 4) float64
    timestamp: int = 0  # microseconds
    image_path: str = ""
    depth_sparse: Optional[np.ndarray] = None  # (H, W) float32 LiDAR depth, 0 = none
    depth_dense: Optional[np.ndarray] = None  # (H, W) float32 dense GT (simulator), 0 = none
    semantic: Optional[np.ndarray] = None  # (H, W) uint8 class id
    instance: Optional[np.ndarray] = None  # (H, W) int32 instance id, 0 = none
    reflection: Optional[np.ndarray] = None  # (H, W) bool reflective-pixel GT
    albedo: Optional[np.ndarray] = None  # (H, W, 3) float32 in [0, 1]
    shading: Optional[np.ndarray] = None  # (H, W) float32
    specular: Optional[np.ndarray] = None  # (H, W, 3) float32 residual
    ego_to_world: Optional[np.ndarray] = None  # (4, 4) ego pose at this camera's timestamp

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def depth_gt(self) -> Optional[np.ndarray]:
        """The GT used for evaluation: sparse LiDAR when present (as on real data), else dense."""
        return self.depth_sparse if self.depth_sparse is not None else self.depth_dense


@dataclass
class Box3D:
    """One annotated object (nuScenes ``sample_annotation``) in the frame's ego frame."""

    center: np.ndarray  # (3,) float64 box centre, metres
    size: tuple[float, float, float]  # width, length, height (metres)
    rotation: np.ndarray  # (3, 3) float64 box -> ego rotation (box x = length = heading)
    category: str  # nuScenes category name, e.g. "vehicle.car"
    token: str = ""  # sample_annotation token
    instance_token: str = ""  # the same object across the scene's frames
    num_lidar_pts: int = 0

    @property
    def yaw(self) -> float:
        """Heading about the ego z axis (radians; 0 = along ego x, forward)."""
        return float(np.arctan2(self.rotation[1, 0], self.rotation[0, 0]))


@dataclass
class SurroundFrame:
    """Six synchronised views plus ego pose, LiDAR and links to temporal neighbours."""

    views: list[CameraView]
    ego_to_world: np.ndarray  # (4, 4) float64 ego pose at the frame (LiDAR) timestamp
    timestamp: int = 0
    scene_name: str = ""
    frame_index: int = 0
    token: str = ""
    lidar_points_ego: Optional[np.ndarray] = None  # (N, 3) float32, ego frame
    class_names: Optional[list[str]] = None  # names for ``semantic`` ids
    boxes: Optional[list[Box3D]] = None  # 3D boxes (ego frame); None = the source has none
    # offset (e.g. -1, +1) -> callable loading that neighbour frame lazily
    neighbours: dict[int, Callable[[], "SurroundFrame"]] = field(default_factory=dict)
    source: str = ""  # "nuscenes", "ddad", "simulator"

    def __post_init__(self):
        names = [v.name for v in self.views]
        if names != list(CAMERA_NAMES):
            raise ValueError(f"SurroundFrame views must be ordered {CAMERA_NAMES}, got {names}")

    def view(self, name: str) -> CameraView:
        return self.views[CAMERA_NAMES.index(name)]

    @property
    def images(self) -> np.ndarray:
        """(6, H, W, 3) uint8; all views must share one size."""
        return np.stack([v.image for v in self.views])

    @property
    def intrinsics(self) -> np.ndarray:
        return np.stack([v.K for v in self.views])

    @property
    def cam_to_ego(self) -> np.ndarray:
        return np.stack([v.cam_to_ego for v in self.views])

    def gt_kinds(self) -> list[str]:
        kinds = []
        for attr in ("depth_sparse", "depth_dense", "semantic", "instance", "reflection",
                     "albedo", "shading", "specular"):
            if getattr(self.views[0], attr) is not None:
                kinds.append(attr)
        if self.lidar_points_ego is not None:
            kinds.append("lidar")
        return kinds


@dataclass
class DepthResult:
    """What any depth model returns for one SurroundFrame (per view, same order as frame)."""

    depth: np.ndarray  # (6, H, W) float32 metric depth (teachers: aligned to metric)
    model_name: str = ""
    bin_centers: Optional[np.ndarray] = None  # (6, N) float32 metric, sorted ascending
    bin_probs: Optional[np.ndarray] = None  # (6, N, h, w) float32, sum over N = 1
    relative_depth: Optional[np.ndarray] = None  # (6, H, W) teacher's raw relative output
    alignment: Optional[list[tuple[float, float]]] = None  # per view (scale, shift) used
    reflection_mask: Optional[np.ndarray] = None  # (6, H, W) bool
    reflection_score: Optional[np.ndarray] = None  # (6, H, W) float32 in [0, 1]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def num_views(self) -> int:
        return int(self.depth.shape[0])
