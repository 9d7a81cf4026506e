"""Per-pixel bin distributions (student probabilities over its metric bin centres, the
teacher's scale-invariant probabilities on the same axis, GT as a line; pin several) and the
per-view bin layout (each camera's centres as ticks with its mean probability mass)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.colormaps import CAMERA_COLORS
from ..core.types import CAMERA_NAMES, SHORT_NAMES

PIN_COLOURS = ["#f0a030", "#50c8ff", "#90e070", "#ff6080", "#c080ff", "#ffe060"]


class BinPlot(QWidget):
    pins_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        self.info = QLabel("Click a pixel of any tile to see its bin distribution")
        self.info.setWordWrap(True)
        top.addWidget(self.info, 1)
        self.pin_button = QPushButton("Pin")
        self.pin_button.setToolTip("Keep this pixel's curves to compare with the next one (P)")
        self.pin_button.clicked.connect(self.pin_current)
        self.clear_button = QPushButton("Clear pins")
        self.clear_button.clicked.connect(self.clear_pins)
        top.addWidget(self.pin_button)
        top.addWidget(self.clear_button)
        lay.addLayout(top)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "depth (m)")
        self.plot.setLabel("left", "probability")
        self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        lay.addWidget(self.plot, 3)
        self.views_plot = pg.PlotWidget()
        self.views_plot.setLabel("bottom", "depth (m): bin centres per camera, mean mass (student solid, teacher dashed)")
        ax = self.views_plot.getAxis("left")
        ax.setTicks([[(i, SHORT_NAMES[n]) for i, n in enumerate(CAMERA_NAMES)]])
        self.views_plot.setYRange(-0.2, 6.0)
        self.views_plot.disableAutoRange()  # ranges set per frame: no bounds scan per curve
        lay.addWidget(self.views_plot, 3)
        self._view_items = None
        self.current = None  # (cam, x, y, data)
        self.pins: list[tuple[int, int, int, dict]] = []
        self.pin_button.setEnabled(False)

    # ------------------------------------------------------------------ pixel curves
    def curve_count(self) -> int:
        return sum(1 for item in self.plot.listDataItems() if item.xData is not None and len(item.xData))

    def show_pixel(self, cam: int, x: int, y: int, data, note: str | None = None) -> None:
        if data is None:
            self.current = None
            self.pin_button.setEnabled(False)
            self.info.setText(f"{CAMERA_NAMES[cam]} ({x}, {y}): {note or 'not available: no student bins'}")
            self._redraw()
            return
        self.current = (cam, x, y, data)
        self.pin_button.setEnabled(True)
        txt = f"{CAMERA_NAMES[cam]} ({x}, {y}): student {data['student_depth']:.2f} m"
        if "teacher_depth" in data:
            txt += f", teacher {data['teacher_depth']:.2f} m"
        txt += f", GT {data['gt']:.2f} m" if data.get("gt") else ", no GT here"
        self.info.setText(txt)
        self._redraw()

    def pin_current(self) -> None:
        if self.current is not None and len(self.pins) < len(PIN_COLOURS) - 1:
            self.pins.append(self.current)
            self.pins_changed.emit()
            self._redraw()

    def clear_pins(self) -> None:
        self.pins = []
        self.pins_changed.emit()
        self._redraw()

    def markers(self) -> list[tuple[int, int, int, QColor]]:
        out = [(c, x, y, QColor(PIN_COLOURS[k + 1])) for k, (c, x, y, _) in enumerate(self.pins)]
        if self.current is not None:
            c, x, y, _ = self.current
            out.append((c, x, y, QColor(PIN_COLOURS[0])))
        return out

    def _redraw(self) -> None:
        self.plot.clear()
        entries = [(PIN_COLOURS[k + 1], p, "pin") for k, p in enumerate(self.pins)]
        if self.current is not None:
            entries.append((PIN_COLOURS[0], self.current, ""))
        for colour, (cam, x, y, d), kind in entries:
            label = f"{SHORT_NAMES[CAMERA_NAMES[cam]]}({x},{y})"
            self.plot.plot(d["centers"], d["student"], pen=pg.mkPen(colour, width=2), symbol="o",
                           symbolSize=5, symbolBrush=colour, name=f"student {label}")
            if "teacher" in d:
                self.plot.plot(d["centers"], d["teacher"], pen=pg.mkPen(colour, width=1.5, style=Qt.DashLine),
                               name=f"teacher {label}")
            if d.get("gt"):
                line = pg.InfiniteLine(pos=d["gt"], angle=90, pen=pg.mkPen(colour, width=1, style=Qt.DotLine))
                self.plot.addItem(line)

    # ------------------------------------------------------------------ per-view layout
    def show_views(self, mass, note: str | None = None) -> None:
        """Ticks at each camera's bin centres and its mean mass curves; the plot items are
        created once and updated in place (cheap when stepping through frames)."""
        if mass is None:
            self.views_plot.clear()
            self._view_items = None
            t = pg.TextItem(note or "not available: no student bins", color="#f0b050")
            t.setPos(0, 3)
            self.views_plot.addItem(t)
            return
        if self._view_items is None:
            self.views_plot.clear()
            self._view_items = []
            for cam in range(6):
                col = QColor(*[int(v) for v in CAMERA_COLORS[cam]])
                self._view_items.append((
                    self.views_plot.plot([], [], pen=pg.mkPen(col, width=1), connect="pairs"),
                    self.views_plot.plot([], [], pen=pg.mkPen(col, width=2)),
                    self.views_plot.plot([], [], pen=pg.mkPen(col, width=1, style=Qt.DashLine))))
        centers = mass["centers"]
        peak = max(float(mass["student"].max()), float(mass.get("teacher", mass["student"]).max()), 1e-6)
        for cam in range(min(centers.shape[0], 6)):
            c = centers[cam]
            ticks, student, teacher = self._view_items[cam]
            ticks.setData(np.repeat(c, 2), np.tile([cam - 0.12, cam + 0.12], len(c)))
            student.setData(c, cam + 0.85 * mass["student"][cam] / peak)
            if "teacher" in mass:
                teacher.setData(c, cam + 0.85 * mass["teacher"][cam] / peak)
            else:
                teacher.setData([], [])
        self._fit_depth_axis(float(np.nanmin(centers)), float(np.nanmax(centers)))

    def _fit_depth_axis(self, lo: float, hi: float) -> None:
        """Keep the depth axis while it holds the centres and is not much wider than they
        need (stepping through a scene then leaves the axes alone: no re-layout per frame)."""
        (x0, x1), _ = self.views_plot.viewRange()
        span = max(hi - lo, 1e-3)
        if x0 <= lo and hi <= x1 and (x1 - x0) <= 1.3 * span:
            return
        pad = 0.05 * span
        self.views_plot.setRange(xRange=(lo - pad, hi + pad), yRange=(-0.3, 6.0), padding=0)
