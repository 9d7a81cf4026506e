"""A real segmentation foundation model as BriGeS's semantic encoder: Segment Anything's image
encoder, loaded through transformers from a LOCAL directory (nothing is downloaded).

``SamSemanticEncoder.from_pretrained(local_dir)`` accepts a directory written by
``SamModel.save_pretrained`` (a full SAM checkpoint, e.g. facebook/sam-vit-base copied to
disk) or by ``SamVisionModel.save_pretrained`` (the image encoder alone).

Preprocessing follows SAM: the longest image side is resized to the encoder's
``image_size``, pixels are normalised with the ImageNet mean/std (or the directory's
``preprocessor_config.json``), the image is zero-padded to a square, and the feature map
is cropped back to the valid (unpadded) region. Same interface as the bundled semantic
teacher: ``forward(images (B, V, 3, H, W) in [0, 1]) -> {"features": (B, V, C, h, w)}``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import CheckpointError
from .semantic_sim import IMAGENET_MEAN, IMAGENET_STD


class SamSemanticEncoder(nn.Module):
    output_kind = "semantic"

    def __init__(self, vision_model: nn.Module, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
                 name: str = "sam"):
        super().__init__()
        self.vision = vision_model
        cfg = vision_model.config
        self.image_size = int(cfg.image_size)
        self.patch_size = int(cfg.patch_size)
        self.feature_stride = self.patch_size
        self.name = name
        self.register_buffer("mean", torch.tensor(image_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(image_std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def feature_channels(self) -> int:
        return int(self.vision.config.output_channels)

    @classmethod
    def from_pretrained(cls, local_dir: str | Path) -> "SamSemanticEncoder":
        from transformers import SamModel, SamVisionModel

        path = Path(local_dir)
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise CheckpointError(path, "not a transformers model directory (no config.json)")
        try:
            model_type = json.loads(cfg_file.read_text()).get("model_type", "")
        except (OSError, ValueError) as exc:
            raise CheckpointError(cfg_file, f"unreadable config: {exc}") from exc
        try:
            if model_type == "sam":
                vision = SamModel.from_pretrained(path, local_files_only=True)
                vision_model = SamVisionModel(vision.config.vision_config)
                vision_model.vision_encoder = vision.vision_encoder
            elif model_type == "sam_vision_model":
                vision_model = SamVisionModel.from_pretrained(path, local_files_only=True)
            else:
                raise CheckpointError(path, f"model_type {model_type!r} is not Segment Anything "
                                            "('sam' or 'sam_vision_model')")
        except CheckpointError:
            raise
        except Exception as exc:  # transformers raises OSError/ValueError/RuntimeError
            raise CheckpointError(path, f"cannot load Segment Anything weights: {exc}") from exc
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        pre = path / "preprocessor_config.json"
        if pre.is_file():
            try:
                p = json.loads(pre.read_text())
                mean = tuple(p.get("image_mean", mean))
                std = tuple(p.get("image_std", std))
            except (OSError, ValueError) as exc:
                raise CheckpointError(pre, f"unreadable preprocessor config: {exc}") from exc
        return cls(vision_model.eval(), mean, std, name=path.name)

    def forward(self, images: torch.Tensor) -> dict:
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be (B, V, 3, H, W), got {tuple(images.shape)}")
        b, v, _, h, w = images.shape
        s = self.image_size / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        x = F.interpolate(images.flatten(0, 1), size=(nh, nw), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        x = F.pad(x, (0, self.image_size - nw, 0, self.image_size - nh))
        feats = self.vision(pixel_values=x).last_hidden_state  # (N, C, S/p, S/p)
        fh, fw = math.ceil(nh / self.patch_size), math.ceil(nw / self.patch_size)
        feats = feats[:, :, :fh, :fw]
        return {"features": feats.reshape(b, v, *feats.shape[1:])}
