"""Size the docks so the camera tiles fill their cells: the tile grid(s) get exactly the size
at which each image, at its own aspect ratio, fills its cell (no empty band beside or below
it), as large as the window allows while the docks keep a usable minimum.

Called by the main window when a dataset's first frame is shown (its aspect is known then)
and when the student | teacher split is toggled (twice the rows); the user's later splitter
drags are left alone."""
from __future__ import annotations

from PySide6.QtCore import Qt

from .tile_grid import TileGrid

RIGHT_MIN = 420  # 3D view / bin plots column, px (and at least RIGHT_SHARE of the window)
RIGHT_SHARE = 0.3
BOTTOM_MIN = 250  # metrics / consistency / jobs row
BOTTOM_MIN_SPLIT = 190  # split: four rows of tiles need the height more


def _docked(dock) -> bool:
    return dock.isVisible() and not dock.isFloating()


def tile_layout(avail_w: float, avail_h: float, aspect: float, grids: int,
                splitter_handle: int = 0) -> tuple[float, float, float]:
    """(image width, central width, central height) for ``grids`` stacked tile grids in at
    most ``avail_w`` x ``avail_h``, images of ``aspect`` = width / height."""
    ow, oh = TileGrid.overhead()
    extra_h = grids * oh + (grids - 1) * splitter_handle
    rows = 2 * grids
    img_w = max(40.0, min((avail_w - ow) / 3.0, (avail_h - extra_h) / rows * aspect))
    return img_w, ow + 3 * img_w, extra_h + rows * img_w / aspect


def fit_tiles(window) -> tuple[float, float] | None:
    """Resize the right and bottom docks of ``window`` (a MainWindow) so its tiles fill their
    cells; returns the image size (w, h) the tiles get, or None when nothing is shown."""
    a = window.analysis
    central = window.centralWidget()
    if a is None or central is None:
        return None
    h0, w0 = a.hw
    aspect = w0 / max(h0, 1)
    split = window.teacher_grid.isVisible()
    right = window.cloud_dock if _docked(window.cloud_dock) else None
    bottom = next((d for d in (window.metrics_dock, window.cons_dock, window.jobs_dock)
                   if _docked(d) and window.dockWidgetArea(d) == Qt.BottomDockWidgetArea), None)
    right_w = right.width() if right is not None else 0
    bottom_h = bottom.height() if bottom is not None else 0
    sep = window.style().pixelMetric(window.style().PixelMetric.PM_DockWidgetSeparatorExtent)
    rmin = max(RIGHT_MIN, RIGHT_SHARE * window.width())
    avail_w = central.width() + right_w - (rmin + sep if right is not None else 0)
    bmin = BOTTOM_MIN_SPLIT if split else BOTTOM_MIN
    if _docked(window.metrics_dock):  # every row of the metrics table stays visible
        title = window.metrics_dock.height() - window.metrics_dock.widget().height()
        bmin = max(bmin, window.metrics.full_height() + title)
    avail_h = central.height() + bottom_h - (bmin + sep if bottom is not None else 0)
    handle = central.handleWidth() if split and hasattr(central, "handleWidth") else 0
    img_w, cw, ch = tile_layout(avail_w, avail_h, aspect, 2 if split else 1, handle)
    if right is not None:
        window.resizeDocks([right], [int(round(central.width() + right_w - cw))], Qt.Horizontal)
    if bottom is not None:
        window.resizeDocks([bottom], [int(round(central.height() + bottom_h - ch))], Qt.Vertical)
    if split and hasattr(central, "setSizes"):
        central.setSizes([int(ch), int(ch)])
    return img_w, img_w / aspect
