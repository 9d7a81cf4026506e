"""Object-level depth error: the prediction's error on the LiDAR points inside each 3D box,
grouped by box class (car, pedestrian, ...; :func:`~fsmde_gui.core.boxes.box_class`).

Every valid sparse-GT pixel of a view is lifted back to 3D (``z * K^-1 [u, v, 1]``, then the
view's motion-compensated camera pose) into the frame's ego frame, where the boxes are; the
box that holds it gives the pixel its class (points in no box count as ``background``).
Figures are pooled over all points of a class (objects are small: most images have only a
few points on any one class), with the prediction clipped to ``[min_depth, max_depth]`` as
in :func:`~fsmde_gui.core.metrics.depth_metrics`.
"""
from __future__ import annotations

import numpy as np

from .boxes import box_class, box_of_points
from .geometry import frame_camera_poses
from .metrics import gt_pixels
from .types import MAX_DEPTH_M

BACKGROUND = "background"


def _lift(gt: np.ndarray, K: np.ndarray, cam_to_ego: np.ndarray, idx: np.ndarray):
    rows, cols = np.divmod(idx, gt.shape[1])
    z = gt.reshape(-1)[idx].astype(np.float64)
    rays = np.stack([cols, rows, np.ones_like(cols)], 1).astype(np.float64) \
        @ np.linalg.inv(np.asarray(K, np.float64)).T
    pts = rays * z[:, None]
    return z, pts @ cam_to_ego[:3, :3].T + cam_to_ego[:3, 3]


class BoxDepthErrors:
    """Accumulates per-class errors over frames: ``add(frame, depth)``, then ``result()``."""

    def __init__(self, max_depth: float = MAX_DEPTH_M, min_depth: float = 1e-3):
        self.max_depth, self.min_depth = float(max_depth), float(min_depth)
        self._sums: dict[str, np.ndarray] = {}  # class -> [n, sum AbsRel, sum sq err, n δ<1.25]
        self._boxes: dict[str, set[str]] = {}  # annotations (one object in one frame)
        self._objects: dict[str, set[str]] = {}  # instances (one object over the frames)
        self.frames = 0

    def add(self, frame, depth: np.ndarray, pixels: dict | None = None) -> bool:
        """Add one frame's prediction ``depth`` (V, H, W); False when the frame has no boxes
        or no sparse GT (nothing added). ``pixels``: ``{view: flat indices}`` of each view's
        usable sparse-GT pixels (:func:`~fsmde_gui.core.metrics.gt_pixels` with this
        object's depth range) when the caller has them already."""
        if frame.boxes is None:
            return False
        poses = frame_camera_poses(frame)
        lifted = []  # (z, pred, points in the ego frame) of each view with GT
        for v, view in enumerate(frame.views):
            gt = view.depth_sparse
            if gt is None:
                continue
            idx = pixels[v] if pixels is not None and v in pixels \
                else gt_pixels(gt, self.min_depth, self.max_depth)
            if not idx.size:
                continue
            z, pts = _lift(gt, view.K, poses[v], idx)
            pred = np.clip(np.asarray(depth[v]).reshape(-1)[idx].astype(np.float64),
                           self.min_depth, self.max_depth)
            lifted.append((z, pred, pts))
        if not lifted:
            return False
        # one pass over the boxes for the points of all views (first box wins per point)
        owners = np.split(box_of_points(np.concatenate([p for _, _, p in lifted]), frame.boxes),
                          np.cumsum([len(z) for z, _, _ in lifted])[:-1])
        classes = np.array([box_class(b.category) for b in frame.boxes] + [BACKGROUND])
        for (z, pred, _), owner in zip(lifted, owners):
            label = classes[owner]  # owner -1 -> the last entry, background
            for cls in np.unique(label):
                sel = label == cls
                self._accumulate(str(cls), z[sel], pred[sel])
            for i in np.unique(owner[owner >= 0]):
                box = frame.boxes[int(i)]
                key = box.token or f"{id(box)}"
                self._boxes.setdefault(str(classes[i]), set()).add(key)
                self._objects.setdefault(str(classes[i]), set()).add(box.instance_token or key)
        self.frames += 1
        return True

    def _accumulate(self, cls: str, g: np.ndarray, p: np.ndarray) -> None:
        ratio = np.maximum(g / p, p / g)
        row = np.array([g.size, np.sum(np.abs(g - p) / g), np.sum((g - p) ** 2),
                        np.sum(ratio < 1.25)], np.float64)
        self._sums[cls] = self._sums.get(cls, np.zeros(4)) + row

    def result(self) -> dict[str, dict]:
        """``{class: {abs_rel, rmse, a1, points, boxes, objects}}`` (``boxes``: annotations
        with GT points, one per object and frame; ``objects``: distinct instances), classes
        by point count (most first), ``background`` last."""
        out = {}
        order = sorted((c for c in self._sums if c != BACKGROUND),
                       key=lambda c: -self._sums[c][0])
        for cls in order + ([BACKGROUND] if BACKGROUND in self._sums else []):
            n, s_abs, s_sq, n_a1 = self._sums[cls]
            out[cls] = {"abs_rel": float(s_abs / n), "rmse": float(np.sqrt(s_sq / n)),
                        "a1": float(n_a1 / n), "points": int(n),
                        "boxes": len(self._boxes.get(cls, ())),
                        "objects": len(self._objects.get(cls, ()))}
        return out


def box_depth_errors(frame, depth: np.ndarray, max_depth: float = MAX_DEPTH_M,
                     min_depth: float = 1e-3) -> dict[str, dict]:
    """Per-class figures of one frame (see :class:`BoxDepthErrors`)."""
    acc = BoxDepthErrors(max_depth, min_depth)
    acc.add(frame, depth)
    return acc.result()


__all__ = ["BACKGROUND", "BoxDepthErrors", "box_depth_errors"]
