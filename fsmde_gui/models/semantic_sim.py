"""The bundled semantic teacher: a small segmentation net trained on the simulator's semantic GT.

It plays the role Segment Anything plays in BriGeS (docs/METHOD.md P2): a frozen encoder whose
feature map carries *what* each region is (object extents, thin poles and signs, instance
boundaries) for the Bridging Gate to hand to the depth features.

``SemanticSimNet.forward(images (B, V, 3, H, W) in [0, 1])`` returns
``{"features": (B, V, C, H/8, W/8), "logits": (B, V, K, H, W)}``. The features are the
decoder's stride-8 map (stride-16 context fused with stride-8 detail), **ours**: SAM's
16-px grid is too coarse for the thin structures of low-resolution simulator images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class SemanticSimConfig:
    num_classes: int = 16
    widths: tuple[int, int, int, int] = (24, 32, 64, 96)  # strides 2, 4, 8, 16
    feature_channels: int = 64  # C of the semantic feature map handed to the gate

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SemanticSimConfig":
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(int(w) for w in d["widths"])
        return cls(**d)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class SemanticSimNet(nn.Module):
    """Encoder (4 stride-2 stages) + light FPN decoder; features at stride 8."""

    arch = "semantic_sim"
    output_kind = "semantic"
    feature_stride = 8

    def __init__(self, cfg: SemanticSimConfig | None = None):
        super().__init__()
        self.cfg = cfg or SemanticSimConfig()
        w = self.cfg.widths
        self.stages = nn.ModuleList()
        cin = 3
        for cout in w:
            self.stages.append(nn.Sequential(_conv(cin, cout, 2), _conv(cout, cout)))
            cin = cout
        c = self.cfg.feature_channels
        self.lateral16 = nn.Conv2d(w[3], c, 1)
        self.lateral8 = nn.Conv2d(w[2], c, 1)
        self.fuse8 = _conv(c, c)
        self.lateral4 = nn.Conv2d(w[1], c, 1)
        self.fuse4 = _conv(c, c)
        self.classifier = nn.Conv2d(c, self.cfg.num_classes, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def feature_channels(self) -> int:
        return self.cfg.feature_channels

    @property
    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    def forward(self, images: torch.Tensor) -> dict:
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be (B, V, 3, H, W), got {tuple(images.shape)}")
        b, v, _, h, w = images.shape
        x = (images.flatten(0, 1) - self.mean) / self.std
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        s4, s8, s16 = skips[1], skips[2], skips[3]
        p16 = self.lateral16(s16)
        p8 = self.fuse8(self.lateral8(s8) + F.interpolate(p16, size=s8.shape[-2:], mode="bilinear",
                                                          align_corners=False))
        p4 = self.fuse4(self.lateral4(s4) + F.interpolate(p8, size=s4.shape[-2:], mode="bilinear",
                                                          align_corners=False))
        logits = F.interpolate(self.classifier(p4), size=(h, w), mode="bilinear", align_corners=False)
        return {
            "features": p8.view(b, v, *p8.shape[1:]),
            "logits": logits.view(b, v, *logits.shape[1:]),
        }


def build_semantic_sim(config: dict) -> SemanticSimNet:
    """Arch-registry builder (``arch == "semantic_sim"``)."""
    return SemanticSimNet(SemanticSimConfig.from_dict(config))
