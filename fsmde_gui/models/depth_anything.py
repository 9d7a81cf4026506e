"""Depth Anything V2 (or any transformers depth-estimation model) as a relative-depth teacher.

Nothing is downloaded: :meth:`DepthAnythingTeacher.from_pretrained` loads a *local* folder
written by ``save_pretrained`` (``config.json`` + weights, optionally
``preprocessor_config.json``) through ``transformers.AutoModelForDepthEstimation``.

Preprocessing follows the model's processor config when the folder has one (else the
Depth Anything defaults): resize so the short side is ``518`` keeping the aspect ratio, each
side rounded to a multiple of the patch size (14), bicubic; ImageNet mean/std. The output
``predicted_depth`` of a *relative* model is already disparity (larger = nearer) and is
resized back to the input size; a *metric* model's depth is inverted so ``relative`` is always
disparity. ``features`` are the backbone hidden states of the layers the DPT neck reads
(``output_hidden_states=True``), patch tokens reshaped to ``(B, V, C, H/14, W/14)``.

:func:`build_depth_anything_v2` builds the real Small/Base/Large architectures from config in
code with random weights (Small: 24.79 M parameters) for speed comparisons.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import CheckpointError, FsmdeError
from .blocks import IMAGENET_MEAN, IMAGENET_STD, fold_views, unfold_views
from .teacher_base import RelativeDepthTeacher

# Published DA-V2 sizes: (hidden, layers, heads, out layers, neck sizes, fusion size)
DAV2_SIZES = {
    "small": (384, 12, 6, (3, 6, 9, 12), (48, 96, 192, 384), 64),
    "base": (768, 12, 12, (3, 6, 9, 12), (96, 192, 384, 768), 128),
    "large": (1024, 24, 16, (5, 12, 18, 24), (256, 512, 1024, 1024), 256),
}


def _transformers():
    try:
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - transformers is in requirements.txt
        raise FsmdeError("Depth Anything needs the 'transformers' package "
                         "(pip install 'fsmde-studio[foundation]')") from exc
    return transformers


def depth_anything_v2_config(size: str = "small"):
    """The transformers ``DepthAnythingConfig`` of DA-V2 ``small`` / ``base`` / ``large``."""
    tf = _transformers()
    if size not in DAV2_SIZES:
        raise ValueError(f"size must be one of {sorted(DAV2_SIZES)}, got {size!r}")
    hidden, layers, heads, outs, neck, fusion = DAV2_SIZES[size]
    backbone = tf.Dinov2Config(hidden_size=hidden, num_hidden_layers=layers,
                               num_attention_heads=heads, patch_size=14, image_size=518,
                               out_features=[f"stage{i}" for i in outs],
                               reshape_hidden_states=False)
    return tf.DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=list(neck),
                                  fusion_hidden_size=fusion, reassemble_hidden_size=hidden,
                                  depth_estimation_type="relative", head_hidden_size=32)


def _fast_random_init(model: nn.Module, std: float = 0.02) -> None:
    """Random weights in a fraction of transformers' init time (speed comparisons only):
    normal(0, std) matrices/kernels/embeddings, zero biases, unit norm and layer-scale weights."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if p.ndim >= 2 or leaf in ("cls_token", "mask_token", "position_embeddings"):
                p.normal_(0.0, std)
            elif leaf == "bias":
                p.zero_()
            else:  # LayerNorm / BatchNorm weights, layer-scale lambdas
                p.fill_(1.0)
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.fill_(1.0)
            elif name.endswith("running_mean") or name.endswith("num_batches_tracked"):
                b.zero_()


def build_depth_anything_v2(size: str = "small", random: bool = True,
                            init: str = "fast") -> "DepthAnythingTeacher":
    """The DA-V2 architecture with random weights, wrapped as a teacher (no download).

    ``init="fast"`` builds on the meta device and fills random weights directly (seconds
    faster on a small CPU); ``init="hf"`` runs transformers' own initialisation;
    ``init="meta"`` leaves it on the meta device (shapes and FLOP counting only).
    """
    if not random:
        raise ValueError("pretrained weights cannot be downloaded here: save them to a folder "
                         "and use DepthAnythingTeacher.from_pretrained(folder)")
    tf = _transformers()
    config = depth_anything_v2_config(size)
    if init == "hf":
        model = tf.DepthAnythingForDepthEstimation(config)
    elif init in ("fast", "meta"):
        with torch.device("meta"):
            model = tf.DepthAnythingForDepthEstimation(config)
        if init == "fast":
            model = model.to_empty(device="cpu")
            _fast_random_init(model)
    else:
        raise ValueError(f"init must be 'fast', 'hf' or 'meta', got {init!r}")
    teacher = DepthAnythingTeacher(model.eval(), name=f"dav2-{size}-random")
    return teacher.to("meta") if init == "meta" else teacher


def build_depth_anything_v2_small(random: bool = True, init: str = "fast"
                                  ) -> "DepthAnythingTeacher":
    """DA-V2-Small architecture (24.79 M parameters), random weights."""
    return build_depth_anything_v2("small", random=random, init=init)


def _read_processor(folder: Path) -> dict:
    path = folder / "preprocessor_config.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"unreadable processor config: {exc}") from exc


def resize_to_patch_multiple(height: int, width: int, short_side: int, multiple: int
                             ) -> tuple[int, int]:
    """Keep aspect, short side -> ``short_side``, each side rounded to a multiple (>= one)."""
    scale = short_side / min(height, width)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    return h, w


class DepthAnythingTeacher(RelativeDepthTeacher):
    """A transformers depth model behind the teacher interface (``relative`` disparity)."""

    arch = "dav2"
    output_kind = "disparity"

    def __init__(self, model: nn.Module, short_side: int | None = None,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, name: str = "dav2"):
        super().__init__()
        self.model = model
        config = model.config
        self.patch_size = int(getattr(config, "patch_size", 14))
        self.short_side = int(short_side or 518)
        self.name = name
        self.is_metric = getattr(config, "depth_estimation_type", "relative") == "metric"
        backbone = getattr(config, "backbone_config", None)
        self.feature_layers = list(getattr(backbone, "out_indices", []) or [])
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def input_size(self) -> None:
        return None  # resizes by itself (short side to ``short_side``, multiples of 14)

    @classmethod
    def from_pretrained(cls, folder: str | Path, short_side: int | None = None,
                        ) -> "DepthAnythingTeacher":
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(folder, "Depth Anything model folder not found")
        if not (folder / "config.json").exists():
            raise CheckpointError(folder, "not a transformers model folder (config.json missing;"
                                          " write one with model.save_pretrained(folder))")
        tf = _transformers()
        bars = tf.utils.logging.is_progress_bar_enabled()
        tf.utils.logging.disable_progress_bar()
        try:
            model = tf.AutoModelForDepthEstimation.from_pretrained(folder, local_files_only=True)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - transformers/safetensors raise many types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(folder, f"cannot load a depth-estimation model: {first[:300]}"
                                  ) from exc
        finally:
            if bars:
                tf.utils.logging.enable_progress_bar()
        proc = _read_processor(folder)
        size = proc.get("size") or {}
        if short_side is None and isinstance(size, dict):
            short_side = size.get("shortest_edge") or (
                min(size["height"], size["width"]) if "height" in size and "width" in size else None)
        multiple = proc.get("ensure_multiple_of")
        teacher = cls(model.eval(), short_side=short_side,
                      mean=tuple(proc.get("image_mean", IMAGENET_MEAN)),
                      std=tuple(proc.get("image_std", IMAGENET_STD)), name=f"dav2:{folder.name}")
        if multiple:
            teacher.patch_size = int(multiple)
        return teacher

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in [0, 1] -> resized, normalised pixel values."""
        h, w = resize_to_patch_multiple(x.shape[-2], x.shape[-1], self.short_side,
                                        self.patch_size)
        if (h, w) != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, images: torch.Tensor) -> dict:
        x, b, v = fold_views(images)
        height, width = x.shape[-2:]
        pixels = self.preprocess(x)
        want_features = bool(self.feature_layers)
        out = self.model(pixel_values=pixels, output_hidden_states=want_features)
        pred = out.predicted_depth
        pred = pred[:, None] if pred.ndim == 3 else pred
        pred = pred.float()
        if self.is_metric:
            disparity = 1.0 / pred.clamp_min(1e-3)
        else:
            disparity = pred.clamp_min(0.0) + 1e-6  # ReLU head: keep strictly positive
        disparity = F.interpolate(disparity, size=(height, width), mode="bilinear",
                                  align_corners=False)
        features = []
        if want_features and out.hidden_states is not None:
            ph = pixels.shape[-2] // self.patch_size
            pw = pixels.shape[-1] // self.patch_size
            for idx in self.feature_layers:
                tokens = out.hidden_states[idx]
                if tokens.ndim == 3:  # (N, 1 [+ registers] + P, C): keep the patch tokens
                    tokens = tokens[:, -ph * pw:].transpose(1, 2).reshape(
                        tokens.shape[0], tokens.shape[-1], ph, pw)
                features.append(unfold_views(tokens, b, v))
        return {"relative": unfold_views(disparity, b, v), "features": features}


def count_parameters(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def patch_grid(height: int, width: int, short_side: int = 518, patch: int = 14) -> tuple[int, int]:
    """Patch-grid size Depth Anything sees for an ``height x width`` image."""
    h, w = resize_to_patch_multiple(height, width, short_side, patch)
    return h // patch, w // patch


__all__ = ["DepthAnythingTeacher", "build_depth_anything_v2", "build_depth_anything_v2_small",
           "depth_anything_v2_config", "resize_to_patch_multiple", "count_parameters",
           "patch_grid", "DAV2_SIZES"]
