"""Run a depth model on a :class:`SurroundFrame` and get a :class:`DepthResult`.

::

    est = DepthEstimator.from_name("student_kd")        # or .from_checkpoint("x.pt")
    result = est.predict(frame)                          # result.depth: (6, H, W) metres

* The six images are resized to the model's input size (``cv2.INTER_AREA``; the Depth
  Anything adapter resizes by itself), run once as a ``(1, 6, 3, h, w)`` batch under
  ``torch.inference_mode``, and depth is resized back to the frame's image size (bilinear).
* Students (metric, depth binning module) also fill ``bin_centers`` and ``bin_probs``
  (decoder resolution); models with an intrinsic-decomposition head (``residual`` output,
  ``student_reflection_ssl``) also fill ``reflection_mask`` / ``reflection_score``.
* Teachers (relative disparity) fill ``relative_depth`` and ``depth`` aligned to metric per
  view with the frame's sparse GT (``view.depth_gt`` at frame resolution: LiDAR when present,
  else dense); without GT, with a ``reference`` depth (e.g. the student's result, or
  ``reference_estimator``'s prediction). ``alignment`` records each view's ``(scale, shift)``;
  :attr:`DepthEstimator.last_alignment_sources` says which source was used.
* ``timings_ms``: ``preprocess``, ``inference``, ``postprocess``, ``total``.
* Models loaded by :meth:`DepthEstimator.from_checkpoint` / ``from_name`` get their
  BatchNorms folded into the convolutions, channels-last weights, fused oneDNN
  convolution + bias + ReLU kernels on the CPU and the NHWC bin softmax
  (``fast_inference.optimize_for_inference_``: fewer kernels, same outputs up to rounding); a
  model passed to the constructor (e.g. one being trained) is used as it is, only
  switched to eval mode.

Device: CUDA when available (bf16 autocast), else CPU (float32); never requires a GPU.
``FSMDE_NUM_THREADS`` sets torch's CPU thread count (and ONNX Runtime's).

ONNX Runtime backend: :meth:`DepthEstimator.from_onnx` (or a name ``onnx:FILE.onnx`` / a
``.onnx`` path wherever a student name or checkpoint is accepted) runs a student exported by
``fsmde export-model`` (``fsmde_gui/models/onnx_export.py``) through the same code below.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import CheckpointError, FsmdeError, InferenceError
from ..core.types import MAX_DEPTH_M, DepthResult, SurroundFrame
from . import registry
from .alignment import align_to_metric
from .fast_inference import optimize_for_inference_
from .checkpoint import load_checkpoint
from .depth_anything import DepthAnythingTeacher
from .onnx_runtime import OnnxStudentModel
from .reflection import reflection_outputs
from .roles import check_role
from .teacher_base import is_teacher


def _where(frame: SurroundFrame, v: int | None = None) -> str:
    name = f"{frame.scene_name or 'frame'}#{frame.frame_index}"
    if v is not None:
        view = frame.views[v]
        name += f" {view.name}" + (f" ({view.image_path})" if view.image_path else "")
    return name


def apply_thread_setting() -> Optional[int]:
    """Honour ``FSMDE_NUM_THREADS`` (positive int) for torch CPU ops; returns the value used."""
    raw = os.environ.get("FSMDE_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise FsmdeError(f"FSMDE_NUM_THREADS must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise FsmdeError(f"FSMDE_NUM_THREADS must be a positive integer, got {raw!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def images_to_tensor(images: Sequence[np.ndarray], wh: Optional[tuple[int, int]]) -> torch.Tensor:
    """``V`` RGB uint8 images ``(H, W, 3)`` -> ``(1, V, 3, h, w)`` float in [0, 1].

    ``wh`` (W, H): resize each with ``cv2.INTER_AREA`` (``INTER_LINEAR`` when enlarging);
    ``None`` keeps the size (all views must then share it).
    """
    out = []
    for img in images:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3:
            raise InferenceError(f"expected (H, W, 3) RGB images, got shape {img.shape}")
        if wh is not None and (img.shape[1], img.shape[0]) != tuple(wh):
            shrink = wh[0] <= img.shape[1] and wh[1] <= img.shape[0]
            img = cv2.resize(img, tuple(wh), interpolation=cv2.INTER_AREA if shrink
                             else cv2.INTER_LINEAR)
        out.append(img)
    arr = np.stack(out).astype(np.float32) / (255.0 if out[0].dtype == np.uint8 else 1.0)
    return torch.from_numpy(arr).permute(0, 3, 1, 2)[None].contiguous()


def _resize_maps(maps: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``(V, 1, h, w)`` -> ``(V, 1, H, W)`` bilinear (no-op when the size already matches)."""
    if tuple(maps.shape[-2:]) == tuple(hw):
        return maps
    return F.interpolate(maps, size=tuple(hw), mode="bilinear", align_corners=False)


class DepthEstimator:
    """A loaded depth model plus everything needed to go from a frame to a DepthResult."""

    def __init__(self, model: nn.Module, name: str = "", device: str | torch.device | None = None,
                 input_size: Optional[tuple[int, int]] = None, min_depth: float | None = None,
                 max_depth: float | None = None, meta: Optional[dict] = None,
                 reference_estimator: Optional["DepthEstimator"] = None,
                 autocast: Optional[bool] = None):
        apply_thread_setting()
        self.device = torch.device(device) if device is not None else default_device()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels
        self.model = model.to(self.device).eval()
        self.name = name or getattr(model, "arch", type(model).__name__)
        self.meta = dict(meta or {})
        cfg = getattr(model, "cfg", None)
        if input_size is None:
            input_size = getattr(model, "input_size", None)
            if input_size is None and cfg is not None:
                input_size = getattr(cfg, "input_size", None)
        self.input_size = tuple(int(s) for s in input_size) if input_size else None
        self.min_depth = float(min_depth if min_depth is not None
                               else getattr(cfg, "min_depth", 0.5))
        self.max_depth = float(max_depth if max_depth is not None
                               else getattr(cfg, "max_depth", MAX_DEPTH_M))
        self.is_teacher = is_teacher(model)
        self.output_kind = "metric" if not self.is_teacher else getattr(model, "output_kind",
                                                                          "disparity")
        self.reference_estimator = reference_estimator
        self.autocast = self.device.type == "cuda" if autocast is None else bool(autocast)
        self.last_alignment_sources: list[str] = []
        self.trained_parameters: Optional[int] = None  # set by from_checkpoint (before BN folding)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_checkpoint(cls, path: str | Path, device=None, fuse: bool = True,
                        role: str | None = None, **kwargs) -> "DepthEstimator":
        """Load a checkpoint. ``fuse``: fold BatchNorm into the convolutions and use
        channels-last weights (inference only; the estimator owns this model copy).
        ``role`` (``student`` / ``teacher``): refuse a model of another kind
        (:func:`~fsmde_gui.models.roles.check_role`)."""
        if registry.is_onnx(path):  # an exported student: ONNX Runtime backend
            return cls.from_onnx(registry.onnx_file(path), role=role, **kwargs)
        model, meta = load_checkpoint(path)
        if not isinstance(model, nn.Module) or not callable(getattr(model, "forward", None)):
            raise CheckpointError(path, "checkpoint does not hold a depth model")
        check_role(model, role, path)
        trained_parameters = int(sum(p.numel() for p in model.parameters()))
        if fuse:  # (parameters counted before folding BN: the trained model's size)
            optimize_for_inference_(model.eval())
        kwargs.setdefault("name", Path(path).stem)
        est = cls(model, device=device, meta=meta, **kwargs)
        est.trained_parameters = trained_parameters
        return est

    @classmethod
    def from_onnx(cls, path: str | Path, providers=None, role: str | None = None,
                  **kwargs) -> "DepthEstimator":
        """An exported student (``fsmde export-model``) run by ONNX Runtime: the same frame
        pre/post-processing and ``DepthResult`` as the torch path. ``providers``: ONNX Runtime
        execution providers (default: TensorRT / CUDA when listed by
        ``onnxruntime.get_available_providers()``, then CPU). Tensors stay on the CPU."""
        model = OnnxStudentModel(path, providers=providers, threads=apply_thread_setting())
        check_role(model, role, path)
        kwargs.pop("device", None)
        kwargs.setdefault("name", Path(path).stem)
        meta = {"arch": model.arch, "backend": "onnxruntime", "path": str(path),
                "providers": model.providers, "onnx_metadata": model.metadata}
        est = cls(model, device="cpu", meta=meta, autocast=False, **kwargs)
        est.trained_parameters = model.trained_parameters
        return est

    @classmethod
    def from_name(cls, name: str, device=None, role: str | None = None,
                  **kwargs) -> "DepthEstimator":
        """A registered name (``student_kd`` ...), ``dav2:<folder>``, ``onnx:<file>`` (or a
        ``.onnx`` path: ONNX Runtime), or a checkpoint path. ``role``: see
        :meth:`from_checkpoint`."""
        if registry.is_onnx(name):
            return cls.from_onnx(registry.onnx_file(name), role=role, **kwargs)
        if registry.is_dav2(name):
            teacher = DepthAnythingTeacher.from_pretrained(registry.dav2_folder(name))
            check_role(teacher, role, registry.dav2_folder(name))
            kwargs.setdefault("name", name)
            return cls(teacher, device=device, meta={"arch": "dav2", "source": name}, **kwargs)
        path = registry.require_model(name)
        kwargs.setdefault("name", path.stem)
        return cls.from_checkpoint(path, device=device, role=role, **kwargs)

    # ------------------------------------------------------------------ running
    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def forward_tensor(self, images: torch.Tensor) -> dict:
        """Raw model output for ``(B, V, 3, h, w)`` in [0, 1] (already at the model size)."""
        images = images.to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.autocast:
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    return self.model(images)
            return self.model(images)

    def predict(self, frame: SurroundFrame, reference=None) -> DepthResult:
        """Depth for one frame. ``reference``: ``(6, H, W)`` metric depth or a DepthResult used to
        align a teacher where the frame has no GT."""
        return self.predict_batch([frame], references=[reference])[0]

    def predict_batch(self, frames: Sequence[SurroundFrame],
                      references: Optional[Sequence] = None) -> list[DepthResult]:
        """Depth for several frames in one forward pass (frames must share the image size when
        the model keeps the input size, i.e. the Depth Anything adapter)."""
        frames = list(frames)
        if not frames:
            return []
        references = list(references) if references is not None else [None] * len(frames)
        t0 = time.perf_counter()
        tensors = []
        for f in frames:
            for v, view in enumerate(f.views):
                img = np.asarray(view.image)
                if img.ndim != 3 or img.shape[2] != 3:
                    raise InferenceError(f"{_where(f, v)}: expected an (H, W, 3) RGB image, "
                                         f"got shape {img.shape}")
                if img.shape[:2] != f.views[0].image.shape[:2]:
                    raise InferenceError(f"{_where(f, v)}: image size {img.shape[:2]} differs "
                                         f"from the other views' {f.views[0].image.shape[:2]}")
            tensors.append(images_to_tensor([v.image for v in f.views], self.input_size))
        if len({tuple(t.shape) for t in tensors}) > 1:
            raise InferenceError("predict_batch needs frames of one image size for this model "
                                 "(it runs at the images' own size)")
        batch = torch.cat(tensors)
        t1 = time.perf_counter()
        self._sync()
        out = self.forward_tensor(batch)
        self._sync()
        t2 = time.perf_counter()
        results = []
        for b, frame in enumerate(frames):
            results.append(self._postprocess(frame, out, b, references[b]))
        t3 = time.perf_counter()
        n = len(frames)
        for r in results:
            r.timings_ms.update({"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n,
                                 "postprocess": (t3 - t2) * 1e3 / n, "total": (t3 - t0) * 1e3 / n})
        return results

    def _postprocess(self, frame: SurroundFrame, out: dict, b: int, reference) -> DepthResult:
        hw = frame.views[0].hw
        if any(v.hw != hw for v in frame.views):
            raise InferenceError(f"{_where(frame)}: all six views of a frame must share one "
                                 f"image size, got {[v.hw for v in frame.views]}")
        if not self.is_teacher:
            low = out["depth"][b].float()
            depth = _resize_maps(low, hw)[:, 0]
            # a resized map is a fresh float32 tensor: clamped in place and handed over as
            # it is (no copies of six full-size maps)
            depth = depth.clamp_min_(0) if depth.data_ptr() != low.data_ptr() \
                else depth.clamp_min(0)
            result = DepthResult(depth=depth.cpu().numpy(), model_name=self.name)
            if "bin_centers" in out:
                result.bin_centers = out["bin_centers"][b].float().cpu().numpy()
                result.bin_probs = np.ascontiguousarray(out["bin_probs"][b].float().cpu().numpy())
            if "residual" in out:  # reflection-aware model (models/intrinsic.py): P3 masks
                cfg = getattr(self.model, "cfg", None)
                result.reflection_mask, result.reflection_score = reflection_outputs(
                    out["residual"][b], hw, getattr(cfg, "quantile", 0.99),
                    getattr(cfg, "min_residual", 0.03))
            return result
        relative = _resize_maps(out["relative"][b].float(), hw)[:, 0].cpu()
        gt = self._stack_gt(frame)
        ref = self._reference(frame, reference, gt)
        try:
            al = align_to_metric(relative, gt, kind=self.output_kind, reference=ref,
                                 min_depth=self.min_depth, max_depth=self.max_depth)
        except (FsmdeError, ValueError) as exc:
            raise InferenceError(f"{self.name}: cannot make the teacher's relative depth metric "
                                 f"for {_where(frame)}: {exc} (give the frame LiDAR GT or a "
                                 f"reference depth of the frame's image size)") from exc
        self.last_alignment_sources = al.sources
        return DepthResult(depth=al.depth.numpy(), model_name=self.name,
                           relative_depth=relative.numpy().astype(np.float32),
                           alignment=al.pairs())

    @staticmethod
    def _stack_gt(frame: SurroundFrame) -> Optional[np.ndarray]:
        gts = [v.depth_gt for v in frame.views]
        if all(g is None for g in gts):
            return None
        hw = frame.views[0].hw
        stacked = np.zeros((len(gts), *hw), dtype=np.float32)
        for i, g in enumerate(gts):
            if g is not None:
                if g.shape != hw:
                    raise InferenceError(f"{_where(frame, i)}: GT depth {g.shape} does not match "
                                     f"the image size {hw}")
                stacked[i] = g
        return stacked

    def _reference(self, frame, reference, gt) -> Optional[np.ndarray]:
        if isinstance(reference, DepthResult):
            return reference.depth
        if reference is not None:
            return np.asarray(reference, dtype=np.float32)
        if self.reference_estimator is not None:
            needs = gt is None or any(int((g > 0).sum()) < 10 for g in gt)
            if needs:
                return self.reference_estimator.predict(frame).depth
        return None

    # ------------------------------------------------------------------ info
    @property
    def num_parameters(self) -> int:
        """Parameters of the model as trained (before any BatchNorm folding)."""
        n = self.trained_parameters
        return int(n if n is not None else sum(p.numel() for p in self.model.parameters()))

    def describe(self) -> dict:
        return {"name": self.name, "arch": getattr(self.model, "arch", type(self.model).__name__),
                "kind": self.output_kind, "parameters": self.num_parameters,
                "input_size": list(self.input_size) if self.input_size else None,
                "device": str(self.device), "min_depth": self.min_depth,
                "max_depth": self.max_depth}
