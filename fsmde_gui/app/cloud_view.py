"""The fused 360° point cloud (pyqtgraph.opengl): student / teacher / LiDAR clouds, colour
schemes, ego-car box, the six camera frustums, the frame's 3D boxes (wireframes coloured by
class, front face crossed), overlap and pair highlighting, view presets."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.opengl.GLViewWidget import GLViewMixin
from PySide6.QtCore import Signal
from PySide6.QtGui import QOpenGLContext
from PySide6.QtOpenGL import QOpenGLWindow
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)

from ..app_model.cloud_geometry import EGO_EXTENT_XYZ, box_lines, boxes_lines, frustum_lines
from ..core.colormaps import CAMERA_COLORS, colorize

SCHEMES = ("image", "camera", "depth", "error", "consistency", "overlap")
SCHEME_TIPS = {
    "image": "camera colours", "camera": "one colour per camera", "depth": "distance (turbo)",
    "error": "|depth − GT| where GT exists (grey: no GT)",
    "consistency": "overlap bands coloured by the pair's cross-view consistency (m)",
    "overlap": "overlap regions of adjacent cameras highlighted in yellow",
}
PRESETS = {  # distance, elevation, azimuth (degrees; ego x forward, y left, z up)
    "default": (42.0, 32.0, 215.0),
    "top": (70.0, 89.0, 180.0),
    "chase": (22.0, 14.0, 180.0),
}


class GLViewWindow(GLViewMixin, QOpenGLWindow):
    """pyqtgraph's 3D view as a QOpenGLWindow inside a window container: unlike a
    QOpenGLWidget it does not switch the whole main window to GL composition, so repainting
    any other panel stays a cheap raster update (~30 ms saved per repaint with software GL)."""

    def __init__(self):
        share = QOpenGLContext.globalShareContext()  # set when AA_ShareOpenGLContexts is on
        if share is not None:
            super().__init__(share, QOpenGLWindow.NoPartialUpdate)
        else:
            super().__init__()

    def devicePixelRatioF(self):  # noqa: N802 (the mixin asks widgets for this)
        return self.devicePixelRatio()


class CloudView(QWidget):
    status = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.toggles = {}
        for name, on, tip in (("student", True, "fused student depth"),
                              ("teacher", False, "fused teacher depth (metric-aligned)"),
                              ("lidar", True, "LiDAR ground truth (cyan)")):
            cb = QCheckBox({"lidar": "LiDAR"}.get(name, name.capitalize()))
            cb.setChecked(on)
            cb.setToolTip(f"Show the {tip}")
            cb.toggled.connect(self._refresh)
            bar.addWidget(cb)
            self.toggles[name] = cb
        self.boxes_toggle = QCheckBox("Boxes")
        self.boxes_toggle.setChecked(True)
        self.boxes_toggle.setToolTip("Show the frame's 3D boxes (annotations), coloured by class")
        self.boxes_toggle.toggled.connect(self._refresh)
        bar.addWidget(self.boxes_toggle)
        bar.addStretch(1)
        lay.addLayout(bar)
        bar = QHBoxLayout()  # second row: the column stays narrow enough for the tiles
        bar.addWidget(QLabel("Colour:"))
        self.scheme = QComboBox()
        for s in SCHEMES:
            self.scheme.addItem(s)
            self.scheme.setItemData(self.scheme.count() - 1, SCHEME_TIPS[s], 3)  # ToolTipRole
        self.scheme.setToolTip("Colour points by camera, depth, error vs GT, consistency or overlap")
        self.scheme.currentTextChanged.connect(self._refresh)
        bar.addWidget(self.scheme)
        self.preset_buttons = {}
        for name, tip in (("reset", "Reset the view"), ("top", "Top-down view"), ("chase", "Chase view behind the car")):
            b = QPushButton(name.capitalize())
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, n=name: self.set_preset("default" if n == "reset" else n))
            bar.addWidget(b)
            self.preset_buttons[name] = b
        bar.addStretch(1)
        lay.addLayout(bar)
        self.view = GLViewWindow()
        self.container = QWidget.createWindowContainer(self.view, self)
        self.container.setMinimumSize(200, 150)
        self.container.setToolTip("Drag: orbit · middle-drag / Ctrl+drag: pan · wheel: zoom")
        lay.addWidget(self.container, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: #f0b050;")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        grid = gl.GLGridItem()
        grid.setSize(120, 120)
        grid.setSpacing(10, 10)
        grid.setColor((90, 90, 100, 90))
        self.view.addItem(grid)
        self.ego = gl.GLLinePlotItem(pos=box_lines((0.0, 0.0, EGO_EXTENT_XYZ[2] / 2),
                                                   EGO_EXTENT_XYZ),
                                     mode="lines", color=(0.95, 0.95, 0.95, 1.0), width=2, antialias=True)
        self.view.addItem(self.ego)
        self.frustums: list[gl.GLLinePlotItem] = []
        self._frustum_rig = None  # (hw, K bytes, cam_to_ego bytes) the frustums were drawn for
        self.boxes = gl.GLLinePlotItem(pos=np.zeros((2, 3), np.float32), mode="lines",
                                       width=1.5, antialias=True)
        self.boxes.setVisible(False)
        self.view.addItem(self.boxes)
        self.scatter = {n: gl.GLScatterPlotItem(pos=np.zeros((1, 3)), size=2.0, pxMode=True) for n in self.toggles}
        for item in self.scatter.values():
            item.setGLOptions("opaque")
            self.view.addItem(item)
        self.analysis = None
        self.highlight_pair: Optional[tuple[int, int]] = None
        self.set_preset("default")

    # ------------------------------------------------------------------ public
    def set_preset(self, name: str) -> None:
        d, el, az = PRESETS[name]
        self.view.opts["center"] = self.view.opts["center"].__class__(0, 0, 0)
        self.view.setCameraPosition(distance=d, elevation=el, azimuth=az)

    def set_analysis(self, a) -> None:
        self.analysis = a
        Ks, c2e, hw = a.frame.intrinsics, a.frame.cam_to_ego, a.hw
        rig = (tuple(hw), np.asarray(Ks).tobytes(), np.asarray(c2e).tobytes())
        if rig != self._frustum_rig:  # the rig is static within a scene: rebuild on change only
            for f in self.frustums:
                self.view.removeItem(f)
            self.frustums = []
            for cam in range(6):
                col = CAMERA_COLORS[cam] / 255.0
                item = gl.GLLinePlotItem(pos=frustum_lines(Ks[cam], c2e[cam], hw), mode="lines",
                                         color=(*col, 1.0), width=1.5, antialias=True)
                self.view.addItem(item)
                self.frustums.append(item)
            self._frustum_rig = rig
        pos, col = a.memoized("box_wireframe", lambda: boxes_lines(a.frame.boxes))
        self.boxes.setData(pos=pos, color=col)
        self._refresh()

    def box_count(self) -> int:
        """Boxes drawn now (0 when hidden or the frame has none)."""
        a = self.analysis
        return len(a.frame.boxes or []) if a is not None and self.boxes.visible() else 0

    def set_highlight_pair(self, pair) -> None:
        self.highlight_pair = tuple(pair) if pair is not None else None
        self._refresh()

    def point_counts(self) -> dict[str, int]:
        return {n: (len(s.pos) if s.visible() and s.pos is not None else 0) for n, s in self.scatter.items()}

    # ------------------------------------------------------------------ drawing
    def _colors(self, name: str, pc) -> np.ndarray:
        scheme = self.scheme.currentText()
        a = self.analysis
        n = len(pc.points)
        if scheme == "camera":
            rgb = CAMERA_COLORS[np.asarray(pc.camera_ids)] / 255.0
        elif scheme == "depth":
            lo, hi = a.depth_range
            rgb = colorize(np.asarray(pc.depth)[None, :], lo, hi, "turbo", reverse=True)[0] / 255.0
        elif scheme in ("error", "consistency", "overlap"):
            rgb = a.cloud_color(name, scheme)
            if rgb is None:
                self.note.setText(f"colour by {scheme}: not available for {name} "
                                  f"({a.note('consistency' if scheme == 'consistency' else 'metrics') or 'no data'})")
                rgb = np.full((n, 3), 0.5, np.float32)
        else:
            rgb = np.asarray(pc.colors, np.float32)
        rgba = np.ones((n, 4), np.float32)
        rgba[:, :3] = rgb
        if self.highlight_pair is not None:
            ids = np.asarray(pc.camera_ids)
            on = np.isin(ids, self.highlight_pair)
            rgba[~on, :3] *= 0.25
        return rgba

    def _refresh(self, *_):
        a = self.analysis
        if a is None:
            return
        notes = []
        self.note.setText("")
        for name, item in self.scatter.items():
            want = self.toggles[name].isChecked()
            if name == "lidar":
                pts = a.lidar_points
                if pts is None:
                    item.setVisible(False)
                    if want:
                        notes.append(f"LiDAR {a.note('lidar') or 'not available'}")
                    continue
                col = np.full((len(pts), 4), (0.35, 0.9, 1.0, 0.9), np.float32)  # GT: cyan
                item.setData(pos=pts, color=col, size=1.5)
                item.setVisible(want)
                continue
            pc = a.clouds.get(name)
            if pc is None:
                item.setVisible(False)
                if want:
                    notes.append(f"{name}: {a.note('fusion') or a.note(name) or 'not available'}")
                continue
            item.setData(pos=np.asarray(pc.points, np.float32), color=self._colors(name, pc), size=2.0)
            item.setVisible(want)
        for cam, f in enumerate(self.frustums):
            hl = self.highlight_pair is not None and cam in self.highlight_pair
            col = (1, 1, 1, 1) if hl else (*(CAMERA_COLORS[cam] / 255.0), 1.0)
            f.setData(color=col, width=3.5 if hl else 1.5)
        has_boxes = a.frame.boxes is not None
        self.boxes_toggle.setEnabled(has_boxes)
        self.boxes_toggle.setToolTip("Show the frame's 3D boxes (annotations), coloured by class"
                                     if has_boxes else "This data has no 3D boxes")
        self.boxes.setVisible(self.boxes_toggle.isChecked() and bool(a.frame.boxes))
        if notes:
            self.note.setText("; ".join(notes))
