"""App memory under churn: 1,000 frame changes in the main window on the bundled sample scenes
while a training job runs in the jobs panel; resident memory (RSS) after the 1,000 changes
against RSS after the first 50. Aim: <= 1.2x (caches, drawn items and pending work are
bounded; nothing grows per change).

The frames cycled are the first few of each scene, as many as the session's frame cache
holds, so every change redraws the whole window (tiles, tables, plots, 3D cloud) without
waiting for the models. Uses the shipped student/teacher when `models/` has them, else tiny
random-weight models (the row says which). Without a DISPLAY it re-runs itself under
xvfb-run (the 3D view needs GL). tests/test_app_jobs.py runs a 200-change version.

Measured (2-core CPU at load average 9.5, shipped student_kd + teacher_sim, Xvfb + Mesa):
RSS 1416.5 MB after 50 changes, 1416.7 MB after 1,000 (ratio 1.000), 299 ms per drawn
change, no change left undrawn, the training job running throughout.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CHANGES = 1000
BASELINE_AFTER = 50
AIM_RATIO = 1.2


def run_in_display() -> dict:
    import torch

    torch.set_num_threads(2)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app_testing import TINY_STUDENT_OPTIONS, stress_frame_changes, wait_until
    from benchmarks.bench_app import _dataset, _models
    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app.theme import apply_dark_theme
    from fsmde_gui.app_model.session import Session
    from fsmde_gui.training.config import apply_overrides

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="bench_frame_changes_"))
    os.environ["FSMDE_RUNS_DIR"] = str(tmp / "runs")
    try:
        root = _dataset(tmp)
        student, teacher, models_label = _models(tmp)
        w = MainWindow(Session(student=student, teacher=teacher),
                       QSettings(str(tmp / "s.ini"), QSettings.IniFormat))
        w.resize(1600, 1000)
        w.show()
        w.open_folder(root)
        wait_until(app, lambda: w.displayed == (0, 0), 300)
        w.jobs.recipe.setCurrentText("supervised")
        job = w.jobs.start_job(apply_overrides({"steps": 100000, "lr": 5e-4},
                                               TINY_STUDENT_OPTIONS))
        wait_until(app, lambda: job.step >= 1, 300)
        result = stress_frame_changes(app, w, CHANGES, baseline_after=BASELINE_AFTER)
        result.update(models=models_label, job_status_during=job.status,
                      job_steps_seen=int(job.step), load_average_1min=os.getloadavg()[0],
                      dataset=str(root.relative_to(REPO)) if root.is_relative_to(REPO)
                      else "tiny")
        w.jobs.cancel_job()
        wait_until(app, lambda: w.jobs.running is None, 60)
        w.close()
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(r: dict) -> None:
    print(f"models: {r['models']}; dataset: {r['dataset']} ({r['frames_cycled']} frames cycled); "
          f"training job {r['job_status_during']} ({r['job_steps_seen']} steps seen); load "
          f"average {r['load_average_1min']:.1f} on {os.cpu_count()} cores")
    print(f"{'measure':48s} {'value':>10s} {'aim':>8s}")
    rows = [(f"RSS after the first {r['baseline_after']} changes (MB)", r["rss_after_baseline_mb"], ""),
            (f"RSS after {r['changes']} changes (MB)", r["rss_after_all_mb"], ""),
            ("ratio", r["rss_ratio"], f"<= {AIM_RATIO}"),
            ("ms per change (drawn)", r["ms_per_change"], ""),
            ("changes not drawn in time", r["not_drawn"], "0")]
    for name, value, aim in rows:
        print(f"{name:48s} {value:10.3f} {aim:>8s}" if isinstance(value, float)
              else f"{name:48s} {value!s:>10s} {aim:>8s}")


def main(out_dir: Path) -> dict:
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            raise RuntimeError("bench_frame_changes needs a display or xvfb-run")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            tmp_json = f.name
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m",
                        "benchmarks.bench_frame_changes", tmp_json], cwd=REPO, check=True)
        result = json.loads(Path(tmp_json).read_text())
        os.unlink(tmp_json)
    else:
        result = run_in_display()
    print_table(result)
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1:  # child under xvfb-run: write JSON for the parent
        Path(sys.argv[1]).write_text(json.dumps(run_in_display(), default=float))
        sys.stdout.flush()
        os._exit(0)  # skip interpreter teardown of Qt/GL objects (PySide may crash there)
    else:
        main(REPO / "benchmarks" / "results")
