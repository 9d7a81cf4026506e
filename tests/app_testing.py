"""Helpers for the app/export tests: tiny randomly initialised student and teacher
checkpoints (real architectures, small widths) so GUI tests run fast without shipped models."""
from __future__ import annotations

from pathlib import Path


def make_tiny_models(out: Path) -> tuple[Path, Path]:
    import torch

    from fsmde_gui.models.checkpoint import save_checkpoint
    from fsmde_gui.models.student import StudentConfig, StudentNet
    from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    student = StudentNet(StudentConfig(num_bins=16, widths=(8, 16, 24, 32, 48), decoder_widths=(32, 24, 16, 16),
                                       bin_hidden=32, input_size=(128, 80)))
    teacher = TeacherSimNet(TeacherConfig(widths=(8, 16, 24, 32, 48), decoder_widths=(32, 24, 16, 16),
                                          input_size=(128, 80)))
    s = save_checkpoint(out / "student_tiny.pt", student)
    t = save_checkpoint(out / "teacher_tiny.pt", teacher)
    return s, t


TINY_STUDENT_OPTIONS = ["image_size=[96,64]", "student.widths=[8,16,24,32,48]",
                        "student.decoder_widths=[32,24,16,16]", "student.bin_hidden=32",
                        "student.num_bins=16", "log_every=1", "num_threads=1"]


def rss_mb() -> float:
    """This process's resident memory now (MB; Linux /proc, else the peak from getrusage)."""
    import os
    import resource

    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_until(app, condition, timeout_s: float) -> bool:
    """Process Qt events until ``condition()`` holds (True) or ``timeout_s`` passes (False)."""
    import time

    t0 = time.perf_counter()
    while not condition():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout_s:
            return False
    return True


def stress_frame_changes(app, window, changes: int, baseline_after: int = 50,
                         frame_timeout_s: float = 120.0) -> dict:
    """Change the window's frame ``changes`` times, each frame drawn before the next change,
    and measure this process's RSS after the first ``baseline_after`` changes and after the
    last (after a ``gc.collect``). The frames cycled are the first few of every scene, as
    many as the session's frame cache holds (scene switches included): every change redraws
    tiles, tables, plots and the 3D cloud without waiting for the models, so the run measures
    what the window keeps per change. A job should be running in the window's jobs panel
    meanwhile (the caller starts it)."""
    import gc
    import time

    from fsmde_gui.app_model.session import CACHE_FRAMES

    session = window.session
    per_scene = max(1, (CACHE_FRAMES - 2) // len(session.scenes))
    frames = [(s, i) for s in range(len(session.scenes))
              for i in range(min(per_scene, session.num_frames(s)))]
    rss_base = None
    not_drawn = 0
    t0 = time.perf_counter()
    for k in range(changes):
        target = frames[(k + 1) % len(frames)]
        window.go_to(*target)
        if not wait_until(app, lambda t=target: window.displayed == t, frame_timeout_s):
            not_drawn += 1
        if k + 1 == baseline_after:
            gc.collect()
            rss_base = rss_mb()
    seconds = time.perf_counter() - t0
    gc.collect()
    app.processEvents()
    rss_end = rss_mb()
    return {"changes": changes, "frames_cycled": len(frames), "baseline_after": baseline_after,
            "rss_after_baseline_mb": rss_base, "rss_after_all_mb": rss_end,
            "rss_ratio": rss_end / rss_base if rss_base else None, "not_drawn": not_drawn,
            "ms_per_change": seconds * 1000 / max(changes, 1)}
