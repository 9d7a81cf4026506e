"""Jobs panel: a real `fsmde train` subprocess started from the window, live progress, cancel
(the trainer keeps a checkpoint), queueing, loading the result as student; and the
`fsmde-gui --screenshot` entry point end to end."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if not os.environ.get("DISPLAY"):
    pytest.skip("GUI tests need a display: run under xvfb-run", allow_module_level=True)

from PySide6.QtCore import QSettings  # noqa: E402

import fsmde_gui.app  # noqa: E402,F401  (before the QApplication: shared GL contexts)
from app_testing import TINY_STUDENT_OPTIONS, make_tiny_models  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny_models_jobs"))


def test_job_runs_in_subprocess_cancels_and_loads(qapp, qtbot, tiny_sim_root, tiny_models, tmp_path, monkeypatch):
    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app_model.session import Session

    monkeypatch.setenv("FSMDE_RUNS_DIR", str(tmp_path / "runs"))
    w = MainWindow(Session(student=tiny_models[0], teacher=tiny_models[1]),
                   QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    w.show()
    try:
        assert w.open_folder(tiny_sim_root)
        qtbot.waitUntil(lambda: w.displayed == (0, 0), timeout=120000)
        panel = w.jobs
        assert "supervised" in [panel.recipe.itemText(i) for i in range(panel.recipe.count())]
        panel.recipe.setCurrentText("supervised")
        panel.steps.setValue(100000)
        panel.extra.setText(" ".join(TINY_STUDENT_OPTIONS))
        first = panel.start_job()
        panel.steps.setValue(3)
        second = panel.start_job()  # queued behind the first; runs to the end
        assert first.status == "running" and second.status == "queued"
        # the GUI stays live while the trainer works: wait for real training steps
        qtbot.waitUntil(lambda: first.step >= 2 and bool(first.losses), timeout=180000)
        assert panel.progress.value() >= 0 and "step" in panel.eta.text()
        assert panel._curves and len(next(iter(panel._curves.values())).getData()[0]) >= 1
        panel.cancel_selected()  # nothing selected: cancels the running job
        qtbot.waitUntil(lambda: first.status != "running", timeout=10000)
        assert first.status == "cancelled"
        assert first.stopped_at - first.cancel_requested_at < 3.0  # stops after the current step
        assert first.checkpoint and Path(first.checkpoint).exists()  # checkpoint kept on cancel
        assert first.final is None and not panel.load_button.isEnabled()
        # the queued job starts next and runs to the end: its model can be loaded
        # the next job starts once the cancelled process has exited (a few s on a busy box)
        qtbot.waitUntil(lambda: second.status != "queued", timeout=60000)
        qtbot.waitUntil(lambda: second.status == "done", timeout=180000)
        assert second.step == 3 and Path(second.final).exists() and panel.load_button.isEnabled()
        panel.load_button.click()  # load as student: before/after metrics shown
        qtbot.waitUntil(lambda: "after" in panel.compare.text() and w.displayed == (0, 0), timeout=120000)
        assert w.session.model_labels["student"] == Path(second.final).name
        assert "AbsRel" in panel.compare.text()
    finally:
        w.close()  # stops any job still running


def test_screenshot_command(tiny_sim_root, tiny_models, tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, FSMDE_SETTINGS_FILE=str(tmp_path / "s.ini"))
    r = subprocess.run([sys.executable, str(REPO / "main.py"), "--dataset", str(tiny_sim_root), "--frame", "1",
                        "--mode", "error", "--view3d", "top", "--student", str(tiny_models[0]),
                        "--teacher", str(tiny_models[1]), "--screenshot", str(out), "--size", "1280x800"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    import cv2

    img = cv2.imread(str(out))
    assert img.shape[1] == 1280 and img.shape[0] >= 800  # docks may need a little more height
    assert img[100:400, 20:600].std() > 5  # tiles area
    bad = subprocess.run([sys.executable, str(REPO / "main.py"), "--dataset", str(tmp_path / "nope"),
                          "--screenshot", str(tmp_path / "bad.png")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_start_from_a_shipped_student_sets_init_checkpoint(qapp, tiny_sim_root):
    from fsmde_gui.app.jobs_panel import JobsPanel
    from fsmde_gui.models.registry import model_path

    panel = JobsPanel(lambda: str(tiny_sim_root))
    names = [panel.init_from.itemData(i) for i in range(panel.init_from.count())]
    assert names[0] == ""  # a new student by default
    assert "init_checkpoint" not in panel.options()
    if not model_path("student_kd").exists():
        pytest.skip("models/student_kd.pt not built")
    panel.recipe.setCurrentText("kd")
    panel.init_from.setCurrentIndex(names.index("student_kd"))
    assert panel.options()["init_checkpoint"] == "student_kd"
    panel.recipe.setCurrentText("teacher")  # the teacher recipe trains no student
    assert not panel.init_from.isEnabled() and "init_checkpoint" not in panel.options()


def test_frame_changes_with_a_job_running_keep_memory_flat(qapp, tiny_models, tmp_path,
                                                           monkeypatch):
    """The short version of benchmarks/bench_frame_changes.py (1,000 changes, RSS <= 1.2x):
    200 frame changes on the bundled sample scenes while a training job runs; RSS after them
    stays within 1.5x of the RSS after the first 50 (caches and drawn items are bounded)."""
    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app_model.session import SAMPLE_SCENES, Session
    from fsmde_gui.training.config import apply_overrides

    from app_testing import stress_frame_changes, wait_until

    if not (SAMPLE_SCENES / "v1.0-mini").exists():
        pytest.skip("bundled sample scenes not generated (make sample)")
    monkeypatch.setenv("FSMDE_RUNS_DIR", str(tmp_path / "runs"))
    w = MainWindow(Session(student=tiny_models[0], teacher=tiny_models[1]),
                   QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    w.resize(1600, 1000)
    w.show()
    try:
        assert w.open_folder(SAMPLE_SCENES)
        assert wait_until(qapp, lambda: w.displayed == (0, 0), 120)
        w.jobs.recipe.setCurrentText("supervised")
        job = w.jobs.start_job(apply_overrides({"steps": 100000}, TINY_STUDENT_OPTIONS))
        assert wait_until(qapp, lambda: job.step >= 1, 300), job.message
        r = stress_frame_changes(qapp, w, 200)
        assert job.status == "running", job.message  # the job ran through all the changes
        assert r["not_drawn"] == 0, r
        assert r["rss_ratio"] <= 1.5, r
        print(f"\nframe changes: {r}")
    finally:
        w.close()  # stops the job
