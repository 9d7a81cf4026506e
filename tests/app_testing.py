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
