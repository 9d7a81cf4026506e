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

Needs the ``deploy`` extra (``onnx``, ``onnxruntime``, ``onnxscript``); without it every entry
point raises :class:`OnnxDependencyError` naming the file and the install command.
"""
from __future__ import annotations

import importlib
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import CheckpointError, FsmdeError
from .roles import check_role

INPUT_NAME = "images"
OUTPUT_NAMES = ("depth", "bin_centers", "bin_probs")
NUM_VIEWS = 6
DEFAULT_OPSET = 18
FORMAT = "fsmde-onnx-student"
EXPORT_TOLERANCE_M = 1e-2  # max |ORT - torch| depth on the check frame for the export to pass
INSTALL_HINT = "pip install onnx onnxruntime onnxscript \"numpy<2\" (or pip install -e '.[deploy]')"
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")
REPO = Path(__file__).resolve().parents[2]
CHECK_DATASET = REPO / "resources" / "nuscenes-keyframe"


class OnnxDependencyError(CheckpointError):
    """``onnx`` / ``onnxruntime`` / ``onnxscript`` is not installed (names the file and the fix)."""


class OnnxExportError(CheckpointError):
    """A checkpoint that cannot be exported (not a student, bad size, exporter failure)."""


def require(module: str, path) -> object:
    """Import ``module`` (onnx, onnxruntime, onnxscript) or raise OnnxDependencyError."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OnnxDependencyError(path, f"needs the Python package {module!r}, which is not "
                                        f"installed ({type(exc).__name__}); install it with: "
                                        f"{INSTALL_HINT}") from None


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


# ---------------------------------------------------------------------------- students

def resolve_student(spec: str | Path) -> Path:
    """A student name (``student_kd`` -> ``models/student_kd.pt``) or a checkpoint path."""
    from . import registry

    p = Path(str(spec)).expanduser()
    if p.suffix or p.exists() or len(p.parts) > 1:
        return p
    return registry.model_path(str(spec))


def load_student(spec: str | Path) -> tuple[nn.Module, dict, Path]:
    """Load a student checkpoint for export: ``(StudentNet in eval mode, meta, path)``.

    A ``reflection_ssl`` checkpoint gives its depth student (the reflection head is not
    exported). Anything else (a teacher, the semantic net) raises OnnxExportError."""
    from .checkpoint import load_checkpoint
    from .student import StudentNet

    path = resolve_student(spec)
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


def parse_size(text: str | Sequence[int] | None) -> Optional[tuple[int, int]]:
    """``"288x160"`` / ``(288, 160)`` -> ``(W, H)``; None stays None."""
    if text is None:
        return None
    if isinstance(text, str):
        parts = text.lower().replace("*", "x").split("x")
        try:
            w, h = (int(v) for v in parts)
        except ValueError:
            raise FsmdeError(f"--size must look like WxH (e.g. 288x160), got {text!r}") from None
    else:
        w, h = (int(v) for v in text)
    if w < 32 or h < 32 or w > 8192 or h > 8192:
        raise FsmdeError(f"--size {w}x{h}: width and height must be between 32 and 8192")
    return w, h


class _StudentGraph(nn.Module):
    """What is exported: the student's outputs as a tuple, without the encoder features."""

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, images: torch.Tensor):
        out = self.student(images)
        return tuple(out[k] for k in OUTPUT_NAMES)


def _metadata(model: nn.Module, meta: dict, source: Path, size: tuple[int, int], opset: int,
              parameters: int) -> dict:
    cfg = model.cfg
    return {
        "fsmde.format": FORMAT,
        "fsmde.version": "1",
        "fsmde.source": str(source),
        "fsmde.name": source.stem,
        "fsmde.arch": str(meta.get("arch", "student")),
        "fsmde.input_size": f"{size[0]}x{size[1]}",
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


def export_proto(model: nn.Module, size: tuple[int, int], opset: int = DEFAULT_OPSET,
                 where: str | Path = "model"):
    """Trace ``model`` (a StudentNet, eval mode) to an ``onnx.ModelProto``, dynamic batch."""
    require("onnx", where)
    require("onnxscript", where)
    w, h = size
    example = torch.rand(2, NUM_VIEWS, 3, h, w, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                _StudentGraph(model).eval(), (example,), dynamo=True, opset_version=int(opset),
                input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                dynamic_shapes={"images": {0: batch}}, verbose=False, report=False)
    except (FsmdeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # exporter errors come in many types
        raise OnnxExportError(where, f"torch.onnx.export failed (opset {opset}, size {w}x{h}): "
                                     f"{type(exc).__name__}: {_first_line(exc)}") from exc
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return program.model_proto


def check_frame(dataset: str | Path | None = None):
    """The frame the export is checked on: the first frame of ``dataset`` (default: the
    bundled real nuScenes keyframe), or a fixed random 6-view frame when there is none."""
    from ..core.types import SurroundFrame

    root = Path(dataset) if dataset is not None else CHECK_DATASET
    if dataset is not None or (root / "v1.0-mini").is_dir():
        from ..data.detect import open_dataset

        return open_dataset(root).frame(0, 0, load_gt=False), str(root)
    from ..core.rig import load_rig
    from ..core.types import CAMERA_NAMES, CameraView

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


def export_student_onnx(student: str | Path, out: str | Path, size=None,
                        opset: int | None = None, check_dataset: str | Path | None = None,
                        tolerance: float = EXPORT_TOLERANCE_M) -> tuple[Path, dict]:
    """Export a student checkpoint (name or path) to ``out`` (.onnx), atomically.

    Returns ``(path, report)``; ``report`` holds ``max_abs_depth_m`` (ONNX Runtime CPU vs
    torch on the check frame), ``check_frame``, ``size``, ``opset``, ``bytes``, ``source``.
    Raises :class:`OnnxExportError` (not a student, export failed, outputs differ by more
    than ``tolerance`` metres) or :class:`OnnxDependencyError`."""
    from ..core.atomic_io import atomic_write
    from .blocks import fuse_conv_bn_
    from .inference import DepthEstimator

    out = Path(out)
    onnx = require("onnx", out)
    require("onnxruntime", out)
    require("onnxscript", out)
    model, meta, source = load_student(student)
    parameters = int(sum(p.numel() for p in model.parameters()))
    size = parse_size(size) or tuple(int(s) for s in model.cfg.input_size)
    opset = int(opset or DEFAULT_OPSET)
    if not 7 <= opset <= 30:
        raise FsmdeError(f"--opset {opset}: expected an ONNX opset between 7 and 30 "
                         f"(default {DEFAULT_OPSET})")
    fuse_conv_bn_(model)  # as DepthEstimator.from_checkpoint runs it
    proto = export_proto(model, size, opset, where=source)
    onnx.helper.set_model_props(proto, _metadata(model, meta, source, size, opset, parameters))
    proto.doc_string = (f"FSMDE Studio student {source.stem}: images (B,6,3,{size[1]},"
                        f"{size[0]}) in [0,1] -> depth (m), bin_centers, bin_probs")
    data = proto.SerializeToString()
    frame, frame_name = check_frame(check_dataset)
    torch_est = DepthEstimator(model, name=source.stem, device="cpu", input_size=size,
                               autocast=False)
    report = {"source": str(source), "size": list(size), "opset": opset, "bytes": len(data),
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


# ---------------------------------------------------------------------------- runtime

def default_providers(available: Sequence[str]) -> list[str]:
    """TensorRT, CUDA (when ONNX Runtime lists them), then CPU: ``FSMDE_ORT_PROVIDERS``
    (comma-separated provider names) overrides."""
    import os

    env = [p.strip() for p in os.environ.get("FSMDE_ORT_PROVIDERS", "").split(",") if p.strip()]
    if env:
        return env
    return [p for p in PROVIDER_PREFERENCE if p in available] or list(available)


class OnnxStudentModel(nn.Module):
    """An exported student run by ONNX Runtime, callable like StudentNet: ``(B, 6, 3, H, W)``
    in [0, 1] -> dict of ``depth`` / ``bin_centers`` / ``bin_probs`` (CPU tensors), so that
    :class:`~fsmde_gui.models.inference.DepthEstimator` pre/post-processes it unchanged."""

    arch = "student_onnx"
    output_kind = "metric"

    def __init__(self, path: str | Path, providers: Optional[Sequence] = None,
                 threads: Optional[int] = None):
        super().__init__()
        self.path = path = Path(path)
        ort = require("onnxruntime", path)
        if not path.is_file():
            raise CheckpointError(path, "ONNX model file not found" if not path.exists()
                                  else "is a folder, expected an .onnx file")
        available = list(ort.get_available_providers())
        wanted = list(providers) if providers else default_providers(available)
        names = [p[0] if isinstance(p, (tuple, list)) else p for p in wanted]
        missing = [p for p in names if p not in available]
        if missing:
            raise CheckpointError(path, f"ONNX Runtime provider(s) {', '.join(missing)} not "
                                        f"available here (available: {', '.join(available)})")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
        except Exception as exc:  # InvalidProtobuf, Fail, InvalidGraph ...
            raise CheckpointError(path, f"not a readable ONNX model (corrupt, truncated or "
                                        f"another file type): {_first_line(exc)}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        out_names = [o.name for o in outputs]
        if (len(inputs) != 1 or len(inputs[0].shape) != 5
                or any(n not in out_names for n in OUTPUT_NAMES)):
            raise CheckpointError(path, f"an ONNX model but not an FSMDE student (needs one "
                                        f"input (B, 6, 3, H, W) and outputs "
                                        f"{', '.join(OUTPUT_NAMES)}; has inputs "
                                        f"{[i.name for i in inputs]}, outputs {out_names})")
        self.input_name = inputs[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        shape = inputs[0].shape
        size = None
        if isinstance(shape[3], int) and isinstance(shape[4], int):
            size = (int(shape[4]), int(shape[3]))
        elif "fsmde.input_size" in self.metadata:
            size = parse_size(self.metadata["fsmde.input_size"])
        self.input_size = size
        md = self.metadata
        self.cfg = SimpleNamespace(
            input_size=size, min_depth=float(md.get("fsmde.min_depth", 0.5)),
            max_depth=float(md.get("fsmde.max_depth", 80.0)),
            num_bins=int(md["fsmde.num_bins"]) if "fsmde.num_bins" in md else None,
            bin_space=md.get("fsmde.bin_space"))
        self.providers = list(self.session.get_providers())
        self.trained_parameters = (int(md["fsmde.parameters"]) if "fsmde.parameters" in md
                                   else None)

    def __deepcopy__(self, memo):  # an InferenceSession cannot be copied: share it
        return self

    def forward(self, images: torch.Tensor) -> dict:
        from .inference import InferenceError

        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        try:
            outs = self.session.run(list(OUTPUT_NAMES), {self.input_name: x})
        except Exception as exc:
            raise InferenceError(f"{self.path}: ONNX Runtime failed on input "
                                 f"{tuple(x.shape)}: {_first_line(exc)}") from exc
        return {k: torch.from_numpy(np.asarray(v)) for k, v in zip(OUTPUT_NAMES, outs)}

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, providers={self.providers}"


__all__ = ["export_student_onnx", "OnnxStudentModel", "OnnxDependencyError", "OnnxExportError",
           "load_student", "compare_on_frame", "check_frame", "parse_size", "default_providers"]
