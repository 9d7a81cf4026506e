"""Small CNN building blocks in plain torch (no torchvision/timm), shared by student and teacher.

All blocks take and return ``(N, C, H, W)`` tensors; the surround nets fold views into the
batch (``N = B * V``) before calling them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """``k x k`` convolution (optionally strided / grouped) + BatchNorm + ReLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                 relu: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableConv(nn.Sequential):
    """Depthwise ``3 x 3`` (optionally strided) + pointwise ``1 x 1``, each with BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__(
            ConvBNReLU(cin, cin, 3, stride, groups=cin),
            ConvBNReLU(cin, cout, 1),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand -> depthwise 3x3 (stride) -> 1x1 project (+ residual)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 4):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            ConvBNReLU(cin, hidden, 1) if expand != 1 else nn.Identity(),
            ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
            ConvBNReLU(hidden, cout, 1, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_residual else y


class ResidualBlock(nn.Module):
    """ResNet basic block (two 3x3 convs), with a 1x1 strided projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvBNReLU(cin, cout, 3, stride)
        self.conv2 = ConvBNReLU(cout, cout, 3, relu=False)
        self.skip = (nn.Identity() if stride == 1 and cin == cout
                     else ConvBNReLU(cin, cout, 1, stride, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.skip(x), inplace=True)


UPSAMPLE_MODES = ("bilinear", "nearest")


class UpFuse(nn.Module):
    """Decoder step: upsample to the skip's size, concatenate the skip, fuse by ``conv``.

    ``separable=True`` uses a depthwise-separable fusion (student), else a full 3x3 (teacher).
    ``upsample``: ``"bilinear"`` (default) or ``"nearest"``, which ONNX Runtime's CPU provider
    runs inside its blocked (NCHWc) convolution layout instead of leaving it for a bilinear
    Resize and coming back (the ``lite`` student, docs/MODELS.md).
    """

    def __init__(self, cin: int, cskip: int, cout: int, separable: bool = True,
                 upsample: str = "bilinear"):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"decoder upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.upsample = upsample
        self.reduce = ConvBNReLU(cin, cout, 1)
        fuse_in = cout + cskip
        self.fuse = SeparableConv(fuse_in, cout) if separable else ConvBNReLU(fuse_in, cout, 3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.fuse(torch.cat([upsample_to(x, skip.shape[-2:], self.upsample), skip], dim=1))


def upsample_to(x: torch.Tensor, hw, mode: str) -> torch.Tensor:
    """``x`` resized to ``hw`` (h, w), ``"nearest"`` or ``"bilinear"`` (half-pixel centres).
    An exact 2x step is written as ``scale_factor=2`` (the same values: torch's scale is
    in / out either way), which an exported graph keeps as a constant-scale Resize that ONNX
    Runtime's CPU provider runs inside its blocked convolution layout; other sizes (the odd
    step from the 1/32 bottleneck) resize to ``hw``, read from the skip at run time."""
    h, w = x.shape[-2:]
    options = {"mode": "nearest"} if mode == "nearest" else {"mode": "bilinear",
                                                              "align_corners": False}
    if tuple(hw) == (2 * h, 2 * w):
        return F.interpolate(x, scale_factor=2.0, **options)
    return F.interpolate(x, size=tuple(hw), **options)


def fuse_conv_bn_(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm of a :class:`ConvBNReLU` into its convolution (in place).

    Inference only (the model must be in eval mode): one kernel less per block and no BN
    memory traffic, same outputs up to float rounding. Returns the model.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fuse_conv_bn_ needs a model in eval mode")
    for module in model.modules():
        if (isinstance(module, ConvBNReLU) and isinstance(module[0], nn.Conv2d)
                and isinstance(module[1], nn.BatchNorm2d)):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return model


def fold_views(images: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``(B, V, C, H, W)`` -> ``(B*V, C, H, W)``, returning B and V; validates the layout."""
    if images.ndim != 5 or images.shape[2] != 3:
        raise ValueError(f"expected images of shape (B, V, 3, H, W), got {tuple(images.shape)}")
    b, v = images.shape[:2]
    return images.reshape(b * v, *images.shape[2:]), b, v


def unfold_views(x: torch.Tensor, b: int, v: int) -> torch.Tensor:
    """``(B*V, ...)`` -> ``(B, V, ...)``."""
    return x.reshape(b, v, *x.shape[1:])


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """ImageNet mean/std normalisation of ``[0, 1]`` images (a buffer, so it follows ``.to``)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = 1.0 / self.std.to(x.dtype)  # one fused pass: x / std - mean / std
        return torch.addcmul(-self.mean.to(x.dtype) * scale, x, scale)


def run_encoder(stem: nn.Module, stages, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Stem then each stage in turn: returns the stem output (1/2) and every stage's output."""
    half = stem(x)
    feats = []
    y = half
    for stage in stages:
        y = stage(y)
        feats.append(y)
    return half, feats
