"""The real FSMDE Studio window driven with pytest-qt (run under Xvfb: the 3D view needs GL).

Opens the tiny simulator dataset with tiny random-weight models, switches modes, hovers and
clicks pixels, steps the timeline, selects a camera pair, exports, checks the screenshot is
not blank, and feeds bad folders (the app must show the error and stay up)."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if not os.environ.get("DISPLAY"):
    pytest.skip("GUI tests need a display: run under xvfb-run", allow_module_level=True)

from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

import fsmde_gui.app  # noqa: E402,F401  (before the QApplication: shared GL contexts)
from app_testing import make_tiny_models  # noqa: E402

pytestmark = pytest.mark.gui


def qimage_to_array(img) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = img.convertToFormat(QImage.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return arr[:, : 3 * w].reshape(h, w, 3).copy()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="module")
def window(qapp, tiny_sim_root, tiny_models, tmp_path_factory):
    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app.theme import apply_dark_theme
    from fsmde_gui.app_model.session import Session

    apply_dark_theme(qapp)
    settings = QSettings(str(tmp_path_factory.mktemp("settings") / "s.ini"), QSettings.IniFormat)
    w = MainWindow(Session(student=tiny_models[0], teacher=tiny_models[1]), settings)
    w.resize(1600, 1000)
    w.show()
    assert w.open_folder(tiny_sim_root)
    wait_displayed(qapp, w, 0, 0)
    yield w
    w.close()


def wait_displayed(qapp, w, scene, index, timeout_s=120):
    import time

    t0 = time.time()
    while w.displayed != (scene, index):
        qapp.processEvents()
        time.sleep(0.01)
        assert time.time() - t0 < timeout_s, f"frame {index} not displayed"
    qapp.processEvents()


def test_tiles_show_every_camera(window):
    assert [t.tile is not None for t in window.grid.tiles] == [True] * 6
    for t in window.grid.tiles:
        arr = qimage_to_array(t.grab().toImage())
        assert arr.std() > 5, f"tile {t.cam} looks blank"
    assert "ms" in window.timing_label.text()
    assert window.metrics.value("student", "mean", "abs_rel") not in ("", "—")


def test_mode_bar_switches_every_tile(window, qtbot):
    from fsmde_gui.app_model.tiles import MODES

    images, bars = {}, {}
    for mode in MODES:
        qtbot.mouseClick(window.mode_buttons[mode], Qt.LeftButton)
        assert window.mode == mode and window.grid.mode == mode
        images[mode] = window.grid.tiles[1].tile.rgb
        bars[mode] = window.grid.tiles[1].tile.bar
    assert not np.array_equal(images["rgb"], images["student"])
    assert not np.array_equal(images["student"], images["teacher"])
    for mode in ("student", "teacher", "gt", "error", "diff", "entropy"):
        assert bars[mode] is not None, f"{mode} tile has no colour bar"
    # shared depth range: student, teacher and GT tiles use the same colour scale
    assert bars["student"][:2] == bars["teacher"][:2] == bars["gt"][:2]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window, Qt.Key_2)  # shortcut "2" = student depth
    assert window.mode == "student"


def test_split_shows_teacher_beside_student(window, qtbot):
    window.split_box.setChecked(True)
    assert window.teacher_grid.isVisible() and window.teacher_grid.mode == "teacher"
    assert window.grid.mode == "student"
    window.set_mode("reflection")  # prediction | simulator GT mask
    assert window.teacher_grid.mode == "reflection_gt"
    # the (slow) reflection mask is computed on demand off the GUI thread, then drawn
    qtbot.waitUntil(lambda: not window.grid.tiles[0].tile.note
                    or not window.grid.tiles[0].tile.note.startswith("computing"), timeout=120000)
    assert window.analysis.reflection is not None or window.grid.tiles[0].tile.note.startswith("not available")
    assert window.teacher_grid.tiles[0].tile.note is None and "GT" in window.teacher_grid.tiles[0].tile.caption
    window.split_box.setChecked(False)
    assert not window.teacher_grid.isVisible()


def test_hover_shows_values_in_status_bar(window, qtbot):
    tile = window.grid.tiles[1]
    pos = tile.widget_point(100, 60).toPoint()
    qtbot.mouseMove(tile, pos)
    qtbot.waitUntil(lambda: "CAM_FRONT" in window.hover_label.text(), timeout=3000)
    text = window.hover_label.text()
    assert "student" in text and "teacher" in text and " m" in text


def test_click_pixel_fills_bin_plot_and_pins(window, qtbot):
    window.bins.clear_pins()
    tile = window.grid.tiles[4]
    qtbot.mouseClick(tile, Qt.LeftButton, pos=tile.widget_point(50, 40).toPoint())
    assert window.bins.current is not None and window.bins.current[0] == 4
    n = window.bins.curve_count()
    assert n >= 2  # student + teacher
    xs, ys = window.bins.plot.listDataItems()[0].getData()
    assert len(xs) == 16 and abs(float(np.sum(ys)) - 1.0) < 1e-3
    window.bins.pin_current()
    qtbot.mouseClick(tile, Qt.LeftButton, pos=tile.widget_point(150, 90).toPoint())
    assert window.bins.curve_count() == 2 * n
    assert len(tile.markers) == 2
    assert len(window.bins.views_plot.listDataItems()) >= 12  # ticks + mass per camera


def test_timeline_step_and_prefetch(window, qapp, qtbot):
    window.step(1)
    wait_displayed(qapp, window, 0, 1)
    assert window.slider.value() == 1 and "2/3" in window.frame_label.text()
    qtbot.waitUntil(lambda: window.session.cached(0, 2) is not None, timeout=60000)  # prefetched
    window.go_to(0, 2)
    assert window.analysis.frame is window.session.cached(0, 2).frame  # cache hit: tiles drawn at once
    wait_displayed(qapp, window, 0, 2)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window, Qt.Key_Left)
    wait_displayed(qapp, window, 0, 1)
    window.go_to(0, 0)
    wait_displayed(qapp, window, 0, 0)


def test_jump_away_from_a_queued_prefetch_and_back(window, qapp):
    """A prefetch dropped from the queue (the user jumped elsewhere) must not block that
    frame forever when the user comes back to it."""
    window.session._cache.clear()
    window.go_to(0, 0)  # computes 0, then queues the prefetch of 1
    window.go_to(0, 2)  # drops the queued prefetch of 1
    wait_displayed(qapp, window, 0, 2)
    window.session._cache.pop((window.session.generation, 0, 1), None)
    window.go_to(0, 1)
    wait_displayed(qapp, window, 0, 1, timeout_s=60)
    window.go_to(0, 0)
    wait_displayed(qapp, window, 0, 0)


def test_consistency_pair_highlights_tiles_and_3d(window, qtbot):
    panel = window.consistency
    assert panel.table.rowCount() == len(panel.pairs) + 1 >= 2
    window.set_mode("rgb")
    before = window.grid.tiles[panel.pairs[0][0]].tile.rgb.copy()
    panel.select_pair(0)
    assert window.cloud.highlight_pair == panel.pairs[0]
    after = window.grid.tiles[panel.pairs[0][0]].tile.rgb
    assert np.any(before != after)
    panel.table.clearSelection()
    assert window.cloud.highlight_pair is None


def test_cloud_toggles_schemes_and_presets(window, qtbot):
    cloud = window.cloud
    counts = cloud.point_counts()
    assert counts["student"] > 1000 and counts["lidar"] > 100
    cloud.toggles["teacher"].setChecked(True)
    assert cloud.point_counts()["teacher"] > 1000
    for scheme in ("camera", "depth", "error", "consistency", "overlap", "image"):
        cloud.scheme.setCurrentText(scheme)
        colours = cloud.scatter["student"].color
        assert colours.shape == (counts["student"], 4) and np.ptp(colours[:, :3]) > 0.05, scheme
    cloud.set_preset("top")
    assert cloud.view.opts["elevation"] == pytest.approx(89.0)
    qtbot.mouseClick(cloud.preset_buttons["chase"], Qt.LeftButton)
    assert cloud.view.opts["distance"] == pytest.approx(22.0)
    cloud.toggles["teacher"].setChecked(False)


def test_screenshot_tiles_not_blank(window, tmp_path):
    from fsmde_gui.app.launch import grab_window, save_png

    window.set_mode("student")
    path = tmp_path / "shot.png"
    save_png(grab_window(window), path)
    import cv2

    img = cv2.imread(str(path))
    assert img.shape[:2] == (window.height(), window.width())
    for t in window.grid.tiles:
        p = t.mapTo(window, QPoint(0, 0))
        crop = img[p.y() + 20:p.y() + t.height() - 5, p.x() + 5:p.x() + t.width() - 60]
        assert crop.std() > 3, f"tile {t.cam} blank in screenshot"
    v = window.cloud.container
    p = v.mapTo(window, QPoint(0, 0))
    assert img[p.y():p.y() + v.height(), p.x():p.x() + v.width()].std() > 3, "3D view blank"


def test_export_frame_and_scene_from_window(window, qapp, qtbot, tmp_path):
    written = window.export_frame(tmp_path / "frame")
    assert written["png"].exists() and written["ply_student"].exists()
    assert json.loads(written["json"].read_text())["scene"] == window.session.scenes[0].name
    task = window.export_scene(tmp_path / "scene", fps=3)
    assert window.export_progress.isVisible()
    qtbot.waitUntil(lambda: window._export_task is None, timeout=120000)
    assert window.last_export["frames"] == 3 and window.last_export["mp4"].exists()
    assert task.finished.is_set()


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt_table", "a_file", "missing_image"])
def test_bad_folders_show_error_and_app_stays_up(window, qapp, qtbot, tmp_path, keyframe_root, case):
    if case == "missing":
        bad = tmp_path / "does_not_exist"
    elif case == "empty":
        bad = tmp_path / "empty"
        bad.mkdir()
    elif case == "a_file":
        bad = tmp_path / "file.txt"
        bad.write_text("hello")
    else:
        bad = tmp_path / "kf"
        shutil.copytree(keyframe_root, bad)
        for p in bad.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        if case == "corrupt_table":
            (bad / "v1.0-mini" / "sample.json").write_text("{ not json")
        else:
            next((bad / "samples" / "CAM_BACK").glob("*.jpg")).unlink()
    root_before = window.session.root
    assert window.open_folder(bad) is False
    assert window.last_error and str(bad.name) in window.last_error
    assert window.isVisible() and window.session.root == root_before
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and str(bad.name) in boxes[-1].text()
    for b in boxes:
        b.close()
    qapp.processEvents()
    assert window.analysis is not None  # the previous frame is still shown


def test_recent_folders_and_window_state_persist(window):
    from fsmde_gui.app.settings import recent_folders

    assert str(window.session.root.resolve()) in recent_folders(window.settings)
    assert window.recent_menu.actions()
    assert window.settings.value("view/mode") == window.mode


def test_bad_frame_in_a_good_dataset_shows_error(window, qapp, qtbot, tiny_sim_root, tmp_path):
    """A damaged file found only when its frame is loaded (in the worker) -> dialog, app up."""
    bad = tmp_path / "sim"
    shutil.copytree(tiny_sim_root, bad)
    last = sorted((bad / "samples" / "CAM_BACK").glob("*"))[-1]
    last.write_bytes(b"not an image")
    assert window.open_folder(bad)
    wait_displayed(qapp, window, 0, 0)
    window.go_to(0, 2)
    qtbot.waitUntil(lambda: window.last_error is not None and last.name in window.last_error, timeout=60000)
    assert window.isVisible() and window.displayed == (0, 0)
    for b in window.findChildren(QMessageBox):
        b.close()
    assert window.open_folder(tiny_sim_root)  # back to the good data
    wait_displayed(qapp, window, 0, 0)


def test_a_scene_without_frames_is_listed_but_not_choosable(window, qapp, tiny_sim_root,
                                                           tmp_path):
    """A DGP folder whose first scene has no samples: the window opens on the next scene and
    lists the empty one greyed out ("no frames"), so choosing it is impossible."""
    from _data_helpers import dgp_with_empty_first_scene
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.data.dgp_writer import write_dgp

    dgp = tmp_path / "dgp"
    write_dgp(open_dataset(tiny_sim_root), dgp)
    root = dgp_with_empty_first_scene(dgp, tmp_path / "dgp_empty_first")
    assert window.open_folder(root)
    wait_displayed(qapp, window, 1, 0)
    box = window.scene_box
    assert box.count() == 2 and box.currentIndex() == 1
    assert box.itemText(0) == "empty-scene (no frames)" and box.itemText(1).endswith("(3)")
    assert not box.model().item(0).isEnabled() and box.model().item(1).isEnabled()
    window.go_to(0, 0)  # what a programmatic jump to it does: nothing
    qapp.processEvents()
    assert window.displayed == (1, 0) and window.state.position == (1, 0)
    assert window.open_folder(tiny_sim_root)  # back to the good data
    wait_displayed(qapp, window, 0, 0)
