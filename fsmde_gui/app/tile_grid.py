"""The six camera tiles, laid out as on the car (FL F FR / BL B BR), with captions, one colour
bar per grid (all tiles of a mode share its range), hover read-out and click-to-probe.

``TileGrid.fit_size(image_w, image_h)`` is the grid size at which every tile's image fills
its cell exactly; the main window sizes its docks to it."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from ..app_model.tiles import TileImage, render_tile
from ..core.colormaps import CAMERA_COLORS, colorbar
from ..core.types import CAMERA_NAMES


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


class TileView(QWidget):
    """One camera: paints the mode image scaled to fit, a caption and a colour bar."""

    hovered = Signal(int, int, int)  # cam, x, y (image pixels)
    clicked = Signal(int, int, int)
    CAPTION_H = 18
    PAD = 1  # left and right of the image

    def __init__(self, cam: int, parent=None):
        super().__init__(parent)
        self.cam = cam
        self.setMouseTracking(True)
        self.setMinimumSize(120, 70)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.tile: Optional[TileImage] = None
        self._image: Optional[QImage] = None
        self._scaled = None
        self.markers: list[tuple[int, int, QColor]] = []
        self.hint = f"{CAMERA_NAMES[cam]}: hover for values, click a pixel for its bin distribution"
        self.setToolTip(self.hint)

    def set_tile(self, tile: Optional[TileImage]) -> None:
        self.tile = tile
        # the whole caption (painted elided when wider than the tile) above the hint
        self.setToolTip(f"{tile.caption}\n{self.hint}" if tile is not None else self.hint)
        self._image = to_qimage(tile.rgb) if tile is not None else None
        self._scaled = None
        self.update()

    def _image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        aw = max(self.width() - 2 * self.PAD, 1)
        ah = max(self.height() - self.CAPTION_H, 1)
        iw, ih = self._image.width(), self._image.height()
        s = min(aw / iw, ah / ih)
        w, h = iw * s, ih * s
        return QRectF(self.PAD + (aw - w) / 2, self.CAPTION_H, w, h)

    def image_pixel(self, pos: QPointF) -> Optional[tuple[int, int]]:
        r = self._image_rect()
        if self._image is None or not r.contains(pos):
            return None
        x = int((pos.x() - r.x()) / r.width() * self._image.width())
        y = int((pos.y() - r.y()) / r.height() * self._image.height())
        return min(x, self._image.width() - 1), min(y, self._image.height() - 1)

    def widget_point(self, x: int, y: int) -> QPointF:
        r = self._image_rect()
        return QPointF(r.x() + (x + 0.5) / self._image.width() * r.width(),
                       r.y() + (y + 0.5) / self._image.height() * r.height())

    def paintEvent(self, event):  # noqa: N802 (Qt)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#141418"))
        c = CAMERA_COLORS[self.cam]
        p.fillRect(0, 2, 4, 14, QColor(int(c[0]), int(c[1]), int(c[2])))
        p.setPen(QColor("#e1e1e6"))
        f = QFont(self.font())
        f.setPointSizeF(max(7.5, min(9.5, self.width() / 55)))
        p.setFont(f)
        if self.tile is None:
            p.drawText(8, 14, CAMERA_NAMES[self.cam])
            p.end()
            return
        width = self.width() - 10  # a caption wider than the tile ends in "…" (full: tooltip)
        caption = p.fontMetrics().elidedText(self.tile.caption, Qt.ElideRight, width)
        p.drawText(QRectF(8, 0, width, 17), Qt.AlignVCenter | Qt.AlignLeft, caption)
        r = self._image_rect()
        size = (int(r.width()), int(r.height()))
        if self._scaled is None or self._scaled[0] != size:  # scale once per tile and size
            self._scaled = (size, QPixmap.fromImage(self._image.scaled(
                size[0], size[1], Qt.IgnoreAspectRatio, Qt.SmoothTransformation)))
        p.drawPixmap(int(r.x()), int(r.y()), self._scaled[1])
        if self.tile.note:
            p.setPen(QColor("#f0b050"))
            p.drawText(r.adjusted(8, 6, -8, -6), Qt.AlignCenter | Qt.TextWordWrap, self.tile.note)
        for x, y, colour in self.markers:
            pt = self.widget_point(x, y)
            p.setPen(QPen(colour, 2))
            p.drawEllipse(pt, 5, 5)
            p.drawLine(pt + QPointF(-9, 0), pt + QPointF(-6, 0))
            p.drawLine(pt + QPointF(6, 0), pt + QPointF(9, 0))
        p.end()

    def mouseMoveEvent(self, event):  # noqa: N802
        px = self.image_pixel(event.position())
        if px is not None:
            self.hovered.emit(self.cam, px[0], px[1])

    def mousePressEvent(self, event):  # noqa: N802
        px = self.image_pixel(event.position())
        if px is not None and event.button() == Qt.LeftButton:
            self.clicked.emit(self.cam, px[0], px[1])


class ColorBarView(QWidget):
    """The grid's colour bar, beside the tiles, as tall as both rows of images (blank in
    modes without one, so the tiles keep their size when the mode changes)."""

    BAR_W = 58

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedWidth(self.BAR_W)
        self.bar = None  # (vmin, vmax, cmap, reverse, unit)
        self._image: Optional[QImage] = None

    def set_bar(self, bar) -> None:
        if bar != self.bar:
            self.bar, self._image = bar, None
            self.update()

    def paintEvent(self, event):  # noqa: N802 (Qt)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#141418"))
        h = self.height() - TileView.CAPTION_H
        if self.bar is not None and h > 20:
            if self._image is None or self._image.height() != h:
                vmin, vmax, cmap, rev, unit = self.bar
                self._image = to_qimage(colorbar(h, vmin, vmax, cmap, width=12,
                                                 label_width=self.BAR_W - 16, reverse=rev,
                                                 unit=unit, background=(20, 20, 24)))
            p.drawImage(2, TileView.CAPTION_H, self._image)
        p.end()


class TileGrid(QWidget):
    """Six TileViews in car layout and their colour bar; ``show_analysis(a, mode)`` renders
    all six."""

    hovered = Signal(int, int, int)
    clicked = Signal(int, int, int)
    MARGIN = 2
    SPACING = 3

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QGridLayout(self)
        lay.setContentsMargins(*(self.MARGIN,) * 4)
        lay.setSpacing(self.SPACING)
        self.tiles = []
        for cam in range(6):
            t = TileView(cam, self)
            t.hovered.connect(self.hovered)
            t.clicked.connect(self.clicked)
            lay.addWidget(t, cam // 3, cam % 3)
            self.tiles.append(t)
        self.colorbar = ColorBarView(self)
        lay.addWidget(self.colorbar, 0, 3, 2, 1)
        self.analysis = None
        self.mode = "rgb"

    @classmethod
    def overhead(cls) -> tuple[float, float]:
        """(extra width, extra height) of a grid beyond its images: its width is
        ``extra_w + 3 * image_w`` and its height ``extra_h + 2 * image_h`` when the images
        fill their cells."""
        ow = 2 * cls.MARGIN + 3 * cls.SPACING + 3 * 2 * TileView.PAD + ColorBarView.BAR_W
        oh = 2 * cls.MARGIN + cls.SPACING + 2 * TileView.CAPTION_H
        return float(ow), float(oh)

    def show_analysis(self, a, mode: str, overlap_heat: bool = False, highlight_pair=None,
                      depth_range=None, boxes: bool = False) -> None:
        self.analysis, self.mode = a, mode
        for cam, t in enumerate(self.tiles):
            t.set_tile(render_tile(a, cam, mode, depth_range=depth_range, overlap_heat=overlap_heat,
                                   highlight_pair=highlight_pair, burn_notes=False, boxes=boxes,
                                   memo=True))
        self.colorbar.set_bar(next((t.tile.bar for t in self.tiles if t.tile.bar), None))

    def set_markers(self, markers: list[tuple[int, int, int, QColor]]) -> None:
        for cam, t in enumerate(self.tiles):
            t.markers = [(x, y, c) for (k, x, y, c) in markers if k == cam]
            t.update()
