"""The ONNX Runtime backend: an exported student (``fsmde export-model``) run as a model.

:class:`OnnxStudentModel` is callable like :class:`~fsmde_gui.models.student.StudentNet`, so
:class:`~fsmde_gui.models.inference.DepthEstimator` runs it through the same pre/post-processing
(``DepthEstimator.from_onnx``). The export itself is :mod:`fsmde_gui.models.onnx_export`.
``onnxruntime`` (the ``deploy`` extra) is imported only when a model is opened; without it
:class:`OnnxDependencyError` names the file and the install command.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import CheckpointError, FsmdeError, InferenceError
from ..core.types import MAX_DEPTH_M

OUTPUT_NAMES = ("depth", "bin_centers", "bin_probs")
INSTALL_HINT = "pip install onnx onnxruntime onnxscript \"numpy<2\" (or pip install -e '.[deploy]')"
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")


class OnnxDependencyError(CheckpointError):
    """``onnx`` / ``onnxruntime`` / ``onnxscript`` is not installed (names the file and the fix)."""


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


def default_providers(available: Sequence[str]) -> list[str]:
    """TensorRT, CUDA (when ONNX Runtime lists them), then CPU: ``FSMDE_ORT_PROVIDERS``
    (comma-separated provider names) overrides."""
    env = [p.strip() for p in os.environ.get("FSMDE_ORT_PROVIDERS", "").split(",") if p.strip()]
    if env:
        return env
    return [p for p in PROVIDER_PREFERENCE if p in available] or list(available)


def session_options(ort, threads: Optional[int] = None, spinning: Optional[bool] = None):
    """``SessionOptions`` with ONNX Runtime's full graph optimisations (``ORT_ENABLE_ALL``:
    constant folding, Conv+activation / Gemm fusions, the CPU's NCHWc layout) and ``threads``
    intra-op threads (None: ORT's default). Worker threads spin while a ``run`` is in progress
    (ORT's default: a node's work reaches them without a wake-up) and stop spinning when it
    returns (``session.force_spinning_stop``), so that an idle session takes no CPU from the
    app or from the next model; ``spinning=False`` also turns spinning off inside a run (each
    node then wakes its threads: slower on graphs of many small nodes)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "0" if spinning is False else "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


class OnnxStudentModel(nn.Module):
    """An exported student run by ONNX Runtime, callable like StudentNet: ``(B, 6, 3, H, W)``
    in [0, 1] -> dict of ``depth`` / ``bin_centers`` / ``bin_probs`` (CPU tensors), so that
    :class:`~fsmde_gui.models.inference.DepthEstimator` pre/post-processes it unchanged."""

    arch = "student_onnx"
    output_kind = "metric"

    def __init__(self, path: str | Path, providers: Optional[Sequence] = None,
                 threads: Optional[int] = None, spinning: Optional[bool] = None):
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
        options = session_options(ort, threads, spinning)
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
            max_depth=float(md.get("fsmde.max_depth", MAX_DEPTH_M)),
            num_bins=int(md["fsmde.num_bins"]) if "fsmde.num_bins" in md else None,
            bin_space=md.get("fsmde.bin_space"))
        self.providers = list(self.session.get_providers())
        self.trained_parameters = (int(md["fsmde.parameters"]) if "fsmde.parameters" in md
                                   else None)

    def __deepcopy__(self, memo):  # an InferenceSession cannot be copied: share it
        return self

    def forward(self, images: torch.Tensor) -> dict:
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        try:
            outs = self.session.run(list(OUTPUT_NAMES), {self.input_name: x})
        except Exception as exc:
            raise InferenceError(f"{self.path}: ONNX Runtime failed on input "
                                 f"{tuple(x.shape)}: {_first_line(exc)}") from exc
        return {k: torch.from_numpy(np.asarray(v)) for k, v in zip(OUTPUT_NAMES, outs)}

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, providers={self.providers}"
