"""App responsiveness: (a) time from "go to frame N" to everything drawn (tiles, metrics,
consistency, 3D cloud, bin layout), cached/prefetched and cold; (b) the longest GUI-thread
stall while a training job runs in the background (a 10 ms QTimer probe), idle and while
browsing frames. Aims: (a) <= 150 ms, (b) <= 50 ms on a 2-core CPU with software GL.

Uses the shipped student/teacher when `models/` has them, else tiny random-weight models
of the same architectures (the row says which). Without a DISPLAY it re-runs itself under
xvfb-run (the 3D view needs GL)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _dataset(tmp: Path) -> Path:
    """The bundled sample scenes, or ``FSMDE_APP_DATASET`` (e.g. a real nuScenes scene: then
    the warm rows step through every frame of its first scene)."""
    if os.environ.get("FSMDE_APP_DATASET"):
        return Path(os.environ["FSMDE_APP_DATASET"]).resolve()
    sample = REPO / "resources" / "sample_scenes"
    if (sample / "v1.0-mini").exists():
        return sample
    from fsmde_gui.data.simulator.generate import generate_dataset

    generate_dataset(tmp / "tiny", preset="tiny", seed=123)
    return tmp / "tiny"


def _models(tmp: Path):
    from fsmde_gui.models import registry

    t = registry.model_path("teacher_sim")
    for name in ("student_kd", "student_supervised"):
        s = registry.model_path(name)
        if s.exists() and t.exists():
            return str(s), str(t), f"shipped {name} + teacher_sim"
    from app_testing import make_tiny_models

    s, t = make_tiny_models(tmp / "models")
    return str(s), str(t), "tiny random-weight student + teacher (shipped models missing)"


def _wait(app, cond, timeout_s: float) -> bool:
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout_s:
            return False
    return True


def run_in_display(out_dir: Path) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from fsmde_gui.app.main_window import MainWindow
    from fsmde_gui.app.theme import apply_dark_theme
    from fsmde_gui.app_model.session import Session

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_"))
    os.environ["FSMDE_RUNS_DIR"] = str(tmp / "runs")
    try:
        root = _dataset(tmp)
        student, teacher, models_label = _models(tmp)
        w = MainWindow(Session(student=student, teacher=teacher), QSettings(str(tmp / "s.ini"), QSettings.IniFormat))
        w.resize(1600, 1000)
        w.show()
        w.open_folder(root)
        _wait(app, lambda: w.displayed == (0, 0), 300)
        every = bool(os.environ.get("FSMDE_APP_DATASET"))
        n = w.session.num_frames(0) if every else min(w.session.num_frames(0), 6)
        # (a) cold: a frame never computed (inference + fusion + drawing)
        cold, cold_compute = [], []
        for i in range(1, min(n, 6)):
            w.pool.clear()
            _wait(app, lambda: w.pool.activeThreadCount() == 0, 120)  # let prefetches finish
            for _ in range(20):  # deliver their results before the cache is emptied
                app.processEvents()
            w._pending.clear()
            w.session._cache.clear()
            t0 = time.perf_counter()
            w.go_to(0, i)
            _wait(app, lambda i=i: w.displayed == (0, i), 300)
            app.processEvents()
            cold.append((time.perf_counter() - t0) * 1000)
            cold_compute.append(w.analysis.compute_ms)
        # (a) warm: frames already analysed (what prefetch gives when stepping forward)
        def prefetched(i):  # as stepping forward does: analysis + tiles on a worker
            task = w.prefetch(0, i)
            _wait(app, task.finished.is_set, 300)

        if not every:
            for i in range(n + 1):  # n + 1: stepping through 0..n-1 never prefetches
                prefetched(i)
        warm = []
        for rep in range(1 if every else 3):
            for i in range(n):
                if every:  # the session keeps CACHE_FRAMES analyses: prefetch each in turn
                    prefetched(i)
                t0 = time.perf_counter()
                w.go_to(0, i)
                _wait(app, lambda i=i: w.displayed == (0, i), 60)
                app.processEvents()  # paints tiles, plots, tables and the GL view
                warm.append((time.perf_counter() - t0) * 1000)

        # (b) GUI stall probe while a training job runs in a subprocess
        from app_testing import TINY_STUDENT_OPTIONS
        from fsmde_gui.training.config import apply_overrides

        panel = w.jobs
        panel.recipe.setCurrentText("supervised")
        opts = apply_overrides({"steps": 100000, "lr": 5e-4}, TINY_STUDENT_OPTIONS)
        job = panel.start_job(opts)
        _wait(app, lambda: job.step >= 2, 300)
        gaps = {"idle": [], "browsing": [], "inference": []}
        state = {"phase": "idle", "last": time.perf_counter()}

        def tick():
            now = time.perf_counter()
            gaps[state["phase"]].append((now - state["last"]) * 1000 - 10.0)
            state["last"] = now

        probe = QTimer()
        probe.setInterval(10)
        probe.timeout.connect(tick)
        state["last"] = time.perf_counter()
        probe.start()
        t_end = time.perf_counter() + 8.0
        while time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.001)
        state["phase"] = "browsing"
        state["last"] = time.perf_counter()
        k = 0
        t_end = time.perf_counter() + 8.0
        next_step = time.perf_counter()
        while time.perf_counter() < t_end:
            if time.perf_counter() >= next_step:
                w.go_to(0, k % n)  # cached frames: redraw everything
                k += 1
                next_step = time.perf_counter() + 0.5
            app.processEvents()
            time.sleep(0.001)
        # browsing while the worker thread runs inference on uncached frames (same process)
        state["phase"] = "inference"
        for i in range(n + 1):
            w.session._cache.pop((w.session.generation, 0, i), None)
        state["last"] = time.perf_counter()
        t_end = time.perf_counter() + 10.0
        next_step = time.perf_counter()
        while time.perf_counter() < t_end:
            if time.perf_counter() >= next_step:
                w.go_to(0, k % n)
                k += 1
                next_step = time.perf_counter() + 1.0
            app.processEvents()
            time.sleep(0.001)
        probe.stop()
        steps_during = job.step
        t_cancel = time.perf_counter()
        panel.cancel_job()
        _wait(app, lambda: job.status != "running", 30)
        cancel_ms = (time.perf_counter() - t_cancel) * 1000
        _wait(app, lambda: panel.running is None, 30)
        exit_ms = (time.perf_counter() - t_cancel) * 1000
        w.close()
        result = {
            "models": models_label, "dataset": (root.name if every else str(
                root.relative_to(REPO) if root.is_relative_to(REPO) else "tiny")),
            "frames_stepped": n,
            "image_size": list(w.analysis.hw[::-1]) if w.analysis else None,
            "goto_warm_ms_median": float(np.median(warm)), "goto_warm_ms_max": float(np.max(warm)),
            "goto_cold_ms_median": float(np.median(cold)) if cold else None,
            "cold_analysis_ms_median": float(np.median(cold_compute)) if cold_compute else None,
            "stall_idle_ms_max": float(max(gaps["idle"] or [0])),
            "stall_browsing_ms_max": float(max(gaps["browsing"] or [0])),
            "stall_browsing_ms_p99": float(np.percentile(gaps["browsing"], 99)) if gaps["browsing"] else None,
            "stall_inference_ms_max": float(max(gaps["inference"] or [0])),
            "stall_inference_ms_p99": float(np.percentile(gaps["inference"], 99)) if gaps["inference"] else None,
            "load_average_1min": os.getloadavg()[0],
            "stall_idle_ms_p99": float(np.percentile(gaps["idle"], 99)) if gaps["idle"] else None,
            "training_steps_seen": int(steps_during), "cancel_ms": cancel_ms, "process_exit_ms": exit_ms,
            "job_status_after_cancel": job.status,
        }
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(r: dict) -> None:
    print(f"models: {r['models']}; dataset: {r['dataset']} {r['image_size']}, {r.get('frames_stepped', '?')} frames stepped; "
          f"machine load average {r.get('load_average_1min', float('nan')):.1f} on {os.cpu_count()} cores")
    rows = [
        ("(a) go to frame -> all drawn, prefetched (median)", r["goto_warm_ms_median"], 150),
        ("(a) go to frame -> all drawn, prefetched (max)", r["goto_warm_ms_max"], 150),
        ("(a) go to frame -> all drawn, cold (inference)", r["goto_cold_ms_median"], None),
        ("    of which models + metrics + fusion in the worker", r.get("cold_analysis_ms_median"), None),
        ("(b) GUI stall while training, idle (max)", r["stall_idle_ms_max"], 50),
        ("(b) GUI stall while training, idle (p99)", r["stall_idle_ms_p99"], None),
        ("(b) GUI stall while training + browsing cached frames (max)", r["stall_browsing_ms_max"], 50),
        ("(b) GUI stall while training + browsing cached frames (p99)", r["stall_browsing_ms_p99"], None),
        ("(b) ... + inference on new frames in the worker (max)", r["stall_inference_ms_max"], None),
        ("(b) ... + inference on new frames in the worker (p99)", r["stall_inference_ms_p99"], None),
        ("job cancel -> trainer stopped, checkpoint saved", r["cancel_ms"], 1000),
        ("job cancel -> process exited", r.get("process_exit_ms"), None),
    ]
    print(f"{'measure':62s} {'ms':>9s} {'aim':>7s}")
    for name, v, aim in rows:
        vs = "—" if v is None else f"{v:9.1f}"
        print(f"{name:62s} {vs:>9s} {('<= ' + str(aim)) if aim else '':>7s}")


def main(out_dir: Path) -> dict:
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            raise RuntimeError("bench_app needs a display or xvfb-run")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            tmp_json = f.name
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m",
                        "benchmarks.bench_app", tmp_json], cwd=REPO, check=True)
        result = json.loads(Path(tmp_json).read_text())
        os.unlink(tmp_json)
    else:
        result = run_in_display(Path(out_dir))
    print_table(result)
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1:  # child under xvfb-run: write JSON for the parent
        Path(sys.argv[1]).write_text(json.dumps(run_in_display(REPO / "benchmarks" / "results"), default=float))
        sys.stdout.flush()
        os._exit(0)  # skip interpreter teardown of Qt/GL objects (PySide may crash there)
    else:
        main(REPO / "benchmarks" / "results")
