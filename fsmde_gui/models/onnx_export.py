"""Deploying the student: ONNX export and the ONNX Runtime backend (no Qt, no GUI).

::

    path, report = export_student_onnx("student_kd", "out/student_kd.onnx")   # or a .pt path
    est = DepthEstimator.from_onnx("out/student_kd.onnx")   # same DepthResult as the torch path

The exported graph (``torch.onnx.export(..., dynamo=True)``) takes ``images (B, 6, 3, H, W)``
float in ``[0, 1]`` (the six views as :class:`~fsmde_gui.models.student.StudentNet` takes
them; ``B`` dynamic, ``H x W`` fixed at export) and returns ``depth (B, 6, 1, H, W)`` metres,
``bin_centers (B, 6, N)`` and ``bin_probs (B, 6, N, h, w)`` (decoder resolution; the features
are not exported). BatchNorm is folded into the convolutions first, as the torch estimator
runs it. The file carries the student's input size, depth range and binning as ONNX metadata
(``fsmde.*``), which :class:`OnnxStudentModel` reads back.

The export is atomic: the model is written to a temp file beside the target, checked there
(``onnx.checker`` and ONNX Runtime vs torch on a frame), and only then renamed into place.
The check frame is the caller's (models open no dataset): ``fsmde export-model`` passes the
bundled real keyframe or ``--check-dataset``'s first frame
(:func:`fsmde_gui.evaluation.check_frames.check_frame`); without one, a fixed random frame.

Needs the ``deploy`` extra (``onnx``, ``onnxruntime``, ``onnxscript``); without it every entry
point raises :class:`OnnxDependencyError` naming the file and the install command.
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import CheckpointError, FsmdeError
from . import registry
from .onnx_runtime import (INSTALL_HINT, OUTPUT_NAMES, PROVIDER_PREFERENCE,  # noqa: F401
                           OnnxDependencyError, OnnxStudentModel, _first_line, default_providers,
                           parse_size, require)
from .checkpoint import load_checkpoint
from .student import StudentNet
from ..core.types import CAMERA_NAMES, CameraView, SurroundFrame
from ..core.rig import load_rig
from ..core.atomic_io import atomic_write
from .blocks import fuse_conv_bn_
from .fast_inference import use_nhwc_binning_
from .inference import DepthEstimator
from .roles import check_role

INPUT_NAME = "images"
NUM_VIEWS = 6
DEFAULT_OPSET = 18
FORMAT = "fsmde-onnx-student"
EXPORT_TOLERANCE_M = 1e-2  # max |ORT - torch| depth on the check frame for the export to pass


class OnnxExportError(CheckpointError):
    """A checkpoint that cannot be exported (not a student, bad size, exporter failure)."""


# ---------------------------------------------------------------------------- students

def load_student(spec: str | Path) -> tuple[nn.Module, dict, Path]:
    """Load a student checkpoint for export: ``(StudentNet in eval mode, meta, path)``.

    A ``reflection_ssl`` checkpoint gives its depth student (the reflection head is not
    exported). Anything else (a teacher, the semantic net) raises OnnxExportError."""
    path = registry.resolve_model(spec)
    model, meta = load_checkpoint(path)
    if not isinstance(model, StudentNet) and isinstance(getattr(model, "student", None),
                                                          StudentNet):
        meta = dict(meta, exported_part="student (the reflection head is not exported)")
        model = model.student
    check_role(model, "student", path)
    if not isinstance(model, StudentNet):  # a metric-depth model of another kind
        arch = meta.get("arch", getattr(model, "arch", type(model).__name__))
        raise OnnxExportError(path, f"holds a {arch!r} model, not a student; export-model "
                                    f"exports students (e.g. models/student_kd.pt)")
    return model.eval(), meta, path


class _StudentGraph(nn.Module):
    """What is exported: the student's outputs as a tuple, without the encoder features."""

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, images: torch.Tensor):
        out = self.student(images)
        return tuple(out[k] for k in OUTPUT_NAMES)


def _metadata(model: nn.Module, meta: dict, source: Path, input_size: tuple[int, int],
              opset: int, parameters: int) -> dict:
    cfg = model.cfg
    return {
        "fsmde.format": FORMAT,
        "fsmde.version": "1",
        "fsmde.source": str(source),
        "fsmde.name": source.stem,
        "fsmde.arch": str(meta.get("arch", "student")),
        "fsmde.input_size": f"{input_size[0]}x{input_size[1]}",
        "fsmde.num_views": str(NUM_VIEWS),
        "fsmde.min_depth": repr(float(cfg.min_depth)),
        "fsmde.max_depth": repr(float(cfg.max_depth)),
        "fsmde.num_bins": str(int(cfg.num_bins)),
        "fsmde.bin_space": str(cfg.bin_space),
        "fsmde.bin_floor": repr(float(cfg.bin_floor)),
        "fsmde.parameters": str(int(parameters)),
        "fsmde.opset": str(int(opset)),
        **({"fsmde.exported_part": str(meta["exported_part"])} if "exported_part" in meta else {}),
    }


def export_proto(model: nn.Module, input_size: tuple[int, int], opset: int = DEFAULT_OPSET,
                 where: str | Path = "model"):
    """Trace ``model`` (a StudentNet, eval mode) to an ``onnx.ModelProto`` for images of
    ``input_size`` (W, H), dynamic batch."""
    require("onnx", where)
    require("onnxscript", where)
    w, h = input_size
    example = torch.rand(2, NUM_VIEWS, 3, h, w, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with quiet_exporter():
            program = torch.onnx.export(
                _StudentGraph(model).eval(), (example,), dynamo=True, opset_version=int(opset),
                input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                dynamic_shapes={"images": {0: batch}}, verbose=False, report=False,
                optimize=True)  # onnxscript optimiser: constant folding, dead code
    except (FsmdeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # exporter errors come in many types
        raise OnnxExportError(where, f"torch.onnx.export failed (opset {opset}, size {w}x{h}): "
                                     f"{type(exc).__name__}: {_first_line(exc)}") from exc
    return program.model_proto


@contextmanager
def quiet_exporter():
    """torch.onnx.export (dynamo) without its log lines and warnings on the console; the
    loggers' levels are restored afterwards."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def random_frame() -> tuple[SurroundFrame, str]:
    """``(frame, name)``: a fixed random 6-view 320x180 frame on the default rig, what the
    export is checked on when the caller passes no frame."""
    rng = np.random.default_rng(0)
    rig = load_rig(width=320, height=180)
    views = [CameraView(name, rng.integers(0, 256, (180, 320, 3), dtype=np.uint8),
                        rig.cameras[i].K, rig.cameras[i].cam_to_ego)
             for i, name in enumerate(CAMERA_NAMES)]
    return SurroundFrame(views, np.eye(4), scene_name="random", frame_index=0), "a random frame"


def compare_on_frame(reference, candidate, frame) -> dict:
    """Max absolute differences between two estimators' results on ``frame``: ``depth``
    (metres, at the frame's image size), ``bin_centers`` (metres), ``bin_probs``."""
    a, b = reference.predict(frame), candidate.predict(frame)
    out = {"depth": float(np.abs(a.depth - b.depth).max())}
    for key in ("bin_centers", "bin_probs"):
        x, y = getattr(a, key), getattr(b, key)
        out[key] = (float(np.abs(x - y).max()) if x is not None and y is not None
                    and x.shape == y.shape else None)
    return out


def export_student_onnx(student: str | Path, out: str | Path, input_size=None,
                        opset: int | None = None,
                        check: tuple[SurroundFrame, str] | None = None,
                        tolerance: float = EXPORT_TOLERANCE_M) -> tuple[Path, dict]:
    """Export a student checkpoint (name or path) to ``out`` (.onnx), atomically.

    ``input_size``: (W, H) or ``"WxH"`` (default: the student's own). ``check``: ``(frame,
    name)`` the export is checked on, opened by the caller (e.g.
    :func:`fsmde_gui.evaluation.check_frames.check_frame`); default :func:`random_frame`.
    Returns ``(path, report)``; ``report`` holds ``max_abs_depth_m`` (ONNX Runtime CPU vs
    torch on the check frame), ``check_frame`` (its name), ``size`` ([W, H]), ``opset``,
    ``bytes``, ``source``.
    Raises :class:`OnnxExportError` (not a student, export failed, outputs differ by more
    than ``tolerance`` metres) or :class:`OnnxDependencyError`."""
    out = Path(out)
    onnx = require("onnx", out)
    require("onnxruntime", out)
    require("onnxscript", out)
    model, meta, source = load_student(student)
    parameters = int(sum(p.numel() for p in model.parameters()))
    input_size = parse_size(input_size) or tuple(int(s) for s in model.cfg.input_size)
    opset = int(opset or DEFAULT_OPSET)
    if not 7 <= opset <= 30:
        raise FsmdeError(f"--opset {opset}: expected an ONNX opset between 7 and 30 "
                         f"(default {DEFAULT_OPSET})")
    use_nhwc_binning_(fuse_conv_bn_(model))  # as DepthEstimator.from_checkpoint runs it
    proto = export_proto(model, input_size, opset, where=source)
    onnx.helper.set_model_props(proto, _metadata(model, meta, source, input_size, opset,
                                                 parameters))
    proto.doc_string = (f"FSMDE Studio student {source.stem}: images (B,6,3,{input_size[1]},"
                        f"{input_size[0]}) in [0,1] -> depth (m), bin_centers, bin_probs")
    data = proto.SerializeToString()
    frame, frame_name = check if check is not None else random_frame()
    torch_est = DepthEstimator(model, name=source.stem, device="cpu", input_size=input_size,
                               autocast=False)
    report = {"source": str(source), "size": list(input_size), "opset": opset,
              "bytes": len(data),
              "check_frame": frame_name, "bin_space": model.cfg.bin_space,
              "parameters": parameters, "note": meta.get("exported_part")}

    def write_and_check(fh):
        fh.write(data)
        fh.flush()
        tmp = Path(fh.name)
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except Exception as exc:
            raise OnnxExportError(out, f"exported graph fails onnx.checker: "
                                       f"{_first_line(exc)}") from exc
        ort_est = DepthEstimator.from_onnx(tmp, providers=["CPUExecutionProvider"],
                                           name=out.stem)
        diffs = compare_on_frame(torch_est, ort_est, frame)
        report.update(max_abs_depth_m=diffs["depth"], max_abs_bin_centers_m=diffs["bin_centers"],
                      max_abs_bin_probs=diffs["bin_probs"])
        if not diffs["depth"] <= tolerance:
            raise OnnxExportError(out, f"ONNX Runtime depth differs from torch by "
                                       f"{diffs['depth']:.3g} m on {frame_name} (tolerance "
                                       f"{tolerance:g} m); file not written")

    return atomic_write(out, write_and_check), report


__all__ = ["export_student_onnx", "OnnxStudentModel", "OnnxDependencyError", "OnnxExportError",
           "load_student", "compare_on_frame", "random_frame", "parse_size", "default_providers"]
