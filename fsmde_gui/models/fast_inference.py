"""Inference-only rewrites of the CNN blocks (BatchNorm already folded): same outputs, less waste.

:func:`convert_for_inference_` replaces, in place,

* every BN-folded :class:`~fsmde_gui.models.blocks.ConvBNReLU` by a :class:`FusedConv`:
  one oneDNN kernel for convolution + bias + ReLU on the CPU (``mkldnn._convolution_pointwise``,
  the op torch's own compiler emits). Measured on the student at its shipped size on one
  thread: torch's eager ``conv2d`` sends every 1 x 1 convolution of a 6-view batch (batch
  < 16, one thread) to its slow im2col path plus a bias copy, and runs ReLU as a separate
  memory pass;
* every residual :class:`~fsmde_gui.models.blocks.InvertedResidual` by a
  :class:`FusedInvertedResidual`, whose projection convolution adds the skip in the same kernel.

Elsewhere (CUDA, bf16 autocast, autograd, a torch build without oneDNN) :class:`FusedConv`
runs plain ``conv2d`` + in-place ReLU, so a converted model runs anywhere. Inference only:
the converted model has no BatchNorm and cannot be trained further.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .binning import DepthBinning
from .blocks import ConvBNReLU, InvertedResidual, fuse_conv_bn_


def _pointwise_ops():
    """The oneDNN fused-convolution ops, or None where this torch build lacks them."""
    if not torch.backends.mkldnn.is_available():
        return None
    ops = getattr(torch.ops, "mkldnn", None)
    op = getattr(ops, "_convolution_pointwise", None) if ops is not None else None
    if op is None or not hasattr(op, "binary"):
        return None
    return op


POINTWISE_CONV_OP = _pointwise_ops()
"""``torch.ops.mkldnn._convolution_pointwise`` (private to torch, hence looked up, not assumed)."""


class FusedConv(nn.Module):
    """A BN-folded ``Conv2d`` (+ ReLU) run as one oneDNN kernel on the CPU.

    ``forward(x, residual=None)``: ``relu?(conv(x) + bias) [+ residual]`` (the residual is
    added after the convolution, used only by blocks without a ReLU at the end)."""

    def __init__(self, conv: nn.Conv2d, relu: bool):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("FusedConv needs a zero-padded convolution with numeric padding")
        self.weight = nn.Parameter(conv.weight.detach().clone(), requires_grad=False)
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(
            conv.out_channels, dtype=conv.weight.dtype)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.stride, self.padding = list(conv.stride), list(conv.padding)
        self.dilation, self.groups = list(conv.dilation), int(conv.groups)
        self.relu = bool(relu)

    def _fused(self, x: torch.Tensor) -> bool:
        return (POINTWISE_CONV_OP is not None and x.device.type == "cpu"
                and x.dtype == torch.float32 and self.weight.dtype == torch.float32
                and not torch.is_autocast_enabled("cpu")
                and not (torch.is_grad_enabled() and x.requires_grad))

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        op = POINTWISE_CONV_OP
        if self._fused(x):
            if residual is None:
                return op(x, self.weight, self.bias, self.padding, self.stride, self.dilation,
                          self.groups, "relu" if self.relu else "none", [], "")
            same = (self.stride == [1, 1] and residual.shape[1] == self.weight.shape[0]
                    and residual.shape[-2:] == x.shape[-2:])
            if same and not self.relu:
                return op.binary(x, residual, self.weight, self.bias, self.padding,
                                 self.stride, self.dilation, self.groups, "add", 1.0, None,
                                 [], None)
        y = F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype), self.stride,
                     self.padding, self.dilation, self.groups)
        if self.relu:
            y = y.relu_()
        return y if residual is None else y + residual

    def extra_repr(self) -> str:
        o, i = self.weight.shape[:2]
        k = tuple(self.weight.shape[2:])
        return (f"{i * self.groups}, {o}, kernel_size={k}, stride={tuple(self.stride)}, "
                f"groups={self.groups}, relu={self.relu}")


class FusedInvertedResidual(nn.Module):
    """An :class:`InvertedResidual` with the skip added inside its projection kernel."""

    def __init__(self, block: InvertedResidual):
        super().__init__()
        self.body = block.body
        self.use_residual = block.use_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        layers = list(self.body)
        for layer in layers[:-1]:
            y = layer(y)
        last = layers[-1]
        if self.use_residual and isinstance(last, FusedConv):
            return last(y, residual=x)
        y = last(y)
        return x + y if self.use_residual else y


def _is_folded(module: nn.Module) -> bool:
    return (isinstance(module, ConvBNReLU) and isinstance(module[0], nn.Conv2d)
            and isinstance(module[1], nn.Identity))


def _convert(module: nn.Module) -> nn.Module:
    if _is_folded(module):
        return FusedConv(module[0], relu=len(module) > 2 and isinstance(module[2], nn.ReLU))
    if type(module) is nn.Conv2d and module.padding_mode == "zeros" and not isinstance(
            module.padding, str):  # e.g. the bin logits' 1 x 1 convolution
        return FusedConv(module, relu=False)
    for name, child in module.named_children():
        new = _convert(child)
        if new is not child:
            setattr(module, name, new)
    if isinstance(module, InvertedResidual):
        return FusedInvertedResidual(module)
    return module


def convert_for_inference_(model: nn.Module) -> nn.Module:
    """Replace BN-folded conv blocks by :class:`FusedConv` (and residual blocks by
    :class:`FusedInvertedResidual`), in place; returns the model. Run
    :func:`~fsmde_gui.models.blocks.fuse_conv_bn_` first (unfolded blocks are left alone)."""
    if model.training:
        raise ValueError("convert_for_inference_ needs a model in eval mode")
    for name, child in model.named_children():
        new = _convert(child)
        if new is not child:
            setattr(model, name, new)
    return model


def use_nhwc_binning_(model: nn.Module) -> nn.Module:
    """Switch every :class:`~fsmde_gui.models.binning.DepthBinning` of ``model`` to its NHWC
    softmax / expectation (inference and export); returns the model."""
    for module in model.modules():
        if isinstance(module, DepthBinning):
            module.nhwc = True
    return model


def optimize_for_inference_(model: nn.Module) -> nn.Module:
    """Everything the estimator does to a loaded model before running it (in place, eval mode
    only, outputs unchanged up to float rounding): fold BatchNorm into the convolutions,
    channels-last (NHWC) weights, which oneDNN (CPU) and cuDNN (bf16) run markedly faster
    for depthwise/1x1 convolutions, the fused blocks above and the NHWC bin softmax.
    Returns the model."""
    model = fuse_conv_bn_(model).to(memory_format=torch.channels_last)
    return use_nhwc_binning_(convert_for_inference_(model))
