"""The app on 16:9 real data and on boxes: tiles fill their cells (also split), every metrics
column shows, 3D boxes in the cloud and (View > 3D boxes) in the tiles. Run under Xvfb."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if not os.environ.get("DISPLAY"):
    pytest.skip("GUI tests need a display: run under xvfb-run", allow_module_level=True)

from PySide6.QtCore import QSettings  # noqa: E402

import fsmde_gui.app  # noqa: E402,F401  (before the QApplication: shared GL contexts)
from app_testing import make_tiny_models  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def window(qapp, tiny_models_dir, tmp_path_factory):
    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app.theme import apply_dark_theme
    from fsmde_gui.app_model.session import Session

    apply_dark_theme(qapp)
    s, t = make_tiny_models(tiny_models_dir)
    settings = QSettings(str(tmp_path_factory.mktemp("settings") / "s.ini"), QSettings.IniFormat)
    w = MainWindow(Session(student=s, teacher=t), settings)
    w.resize(1600, 1000)
    w.show()
    yield w
    w.close()


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


def show(qapp, w, folder):
    import time

    w.displayed = None
    assert w.open_folder(folder)
    t0 = time.time()
    while w.displayed != (0, 0):
        qapp.processEvents()
        time.sleep(0.01)
        assert time.time() - t0 < 120, "frame not displayed"
    settle(qapp)


def settle(qapp):
    import time

    for _ in range(15):
        qapp.processEvents()
        time.sleep(0.01)


def assert_fills(tile):
    """The image fills its cell: as wide or as tall as the cell allows, the other side within
    a few pixels (rounding of the grid layout)."""
    r = tile._image_rect()
    free_w = tile.width() - 2 * tile.PAD - r.width()
    free_h = tile.height() - tile.CAPTION_H - r.height()
    assert free_w >= -0.5 and free_h >= -0.5
    assert free_w <= 4 and free_h <= 4, (tile.size().toTuple(), r.size().toTuple())


def test_real_tiles_fill_their_cells(window, qapp, keyframe_root):
    show(qapp, window, keyframe_root)
    assert window.analysis.hw == (360, 640)  # 16:9
    for t in window.grid.tiles:
        assert_fills(t)
    single = window.grid.tiles[1]._image_rect()
    assert single.width() >= 320  # the window's width goes to the tiles
    window.split_box.setChecked(True)
    settle(qapp)
    for t in window.grid.tiles + window.teacher_grid.tiles:
        assert_fills(t)
    split = window.grid.tiles[1]._image_rect()
    assert split.width() >= 220 and split.height() >= 120  # was 164 x 92 before fitting
    window.split_box.setChecked(False)
    settle(qapp)
    assert_fills(window.grid.tiles[1])


def test_metrics_table_shows_every_column(window, qapp, keyframe_root):
    if window.analysis is None:
        show(qapp, window, keyframe_root)
    for split in (False, True):
        window.split_box.setChecked(split)
        settle(qapp)
        table = window.metrics.table
        assert not table.horizontalScrollBar().isVisible()
        for col in range(table.columnCount()):
            right = table.columnViewportPosition(col) + table.columnWidth(col)
            assert table.columnViewportPosition(col) >= 0 and right <= table.viewport().width()
        assert not table.verticalScrollBar().isVisible()  # and every row
    window.split_box.setChecked(False)


def test_boxes_in_tiles_and_cloud(window, qapp, tiny_sim_root):
    show(qapp, window, tiny_sim_root)
    frame = window.analysis.frame
    assert frame.boxes
    assert window.cloud.box_count() == len(frame.boxes)  # the cloud's box toggle is on
    window.cloud.boxes_toggle.setChecked(False)
    assert window.cloud.box_count() == 0
    window.cloud.boxes_toggle.setChecked(True)
    window.set_mode("rgb")
    plain = [t.tile.rgb.copy() for t in window.grid.tiles]
    window.boxes_action.setChecked(True)  # View > 3D boxes in the camera tiles
    assert window.boxes_box.isChecked()
    drawn = [t.tile for t in window.grid.tiles]
    counts = [int(t.caption.split()[-2]) for t in drawn]
    assert sum(counts) > 0
    for before, tile, n in zip(plain, drawn, counts):
        assert np.array_equal(before, tile.rgb) == (n == 0)
    window.boxes_box.setChecked(False)
    assert not window.boxes_action.isChecked()
    assert np.array_equal(window.grid.tiles[0].tile.rgb, plain[0])


def test_data_without_boxes_says_so(window, qapp, keyframe_root):
    show(qapp, window, keyframe_root)
    window.boxes_box.setChecked(True)
    assert all("no 3D boxes" in t.tile.caption for t in window.grid.tiles)
    assert not window.cloud.boxes_toggle.isEnabled() and window.cloud.box_count() == 0
    tile = window.grid.tiles[0]
    tile.grab()  # paint: a caption wider than the tile is elided, the whole of it a tooltip
    assert tile.toolTip().splitlines() == [tile.tile.caption, tile.hint]
    window.boxes_box.setChecked(False)
