"""BriGeS as a teacher: frozen depth teacher + frozen semantic net + trainable Bridging Gates.

``BriGeS(depth_model, semantic_model, gate_cfg)``: the depth model's encoder features (one
``(B, V, C, h, w)`` tensor per level) pass through the :class:`BridgingGate` (semantic
features as keys/values), and the gated features go through the depth model's own, frozen
decoder. ``forward(images)`` returns what every teacher returns: ``relative (B, V, 1, H, W)``
affine-invariant disparity (``output_kind = "disparity"``) and ``features`` (the gated
levels), plus ``semantic`` (the semantic feature map), so it plugs in wherever a teacher
does (eval, KD, the app).

The depth model must offer ``encode(images) -> state`` (a dict with ``features``) and
``decode(state, features) -> relative``; :func:`depth_codec` adapts the bundled
``TeacherSimNet`` (whose ``forward`` is one piece) without touching it, and a test checks
that encode+decode with an identity gate reproduces ``forward`` exactly.

Both base models are frozen: ``requires_grad = False`` and always in eval mode (BatchNorm
statistics never move), whatever ``train()`` is called with. Only ``gate`` trains, and only
the gate's weights (plus the base models' names) go into the checkpoint.
"""
from __future__ import annotations

import dataclasses
import hashlib
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import CheckpointError
from .blocks import fold_views, unfold_views
from .bridging_gate import BridgingGate, GateConfig
from .checkpoint import load_checkpoint
from .registry import resolve_model
from .segmentation_adapter import SamSemanticEncoder


def weights_fingerprint(net: nn.Module) -> str:
    """Short sha256 of a module's weights (names, shapes, values): which base a gate fits."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


class DepthCodec:
    """Split a depth teacher into encode (features) and decode (features -> disparity)."""

    def __init__(self, encode: Callable, decode: Callable):
        self.encode = encode
        self.decode = decode


def _teacher_sim_codec(net: nn.Module) -> DepthCodec:
    """Encode/decode for ``TeacherSimNet``, mirroring its ``forward`` step by step."""
    def encode(images: torch.Tensor) -> dict:
        x, b, v = fold_views(images)
        half = net.stem(net.normalize(x))
        feats, y = [], half
        for stage in net.stages:
            y = stage(y)
            feats.append(y)
        return {"features": [unfold_views(f, b, v) for f in feats], "half": half,
                "bv": (b, v), "hw": tuple(x.shape[-2:])}

    def decode(state: dict, features: list[torch.Tensor]) -> torch.Tensor:
        b, v = state["bv"]
        feats = [f.flatten(0, 1) for f in features]
        y = feats[-1]
        for up, skip in zip(net.decoder, (feats[2], feats[1], feats[0], state["half"])):
            y = up(y, skip)
        disparity = F.softplus(net.head(y).float())
        disparity = F.interpolate(disparity, size=state["hw"], mode="bilinear", align_corners=False)
        return unfold_views(disparity, b, v)

    return DepthCodec(encode, decode)


def depth_codec(net: nn.Module) -> DepthCodec:
    if hasattr(net, "encode") and hasattr(net, "decode"):
        return DepthCodec(net.encode, net.decode)
    needed = ("stem", "normalize", "stages", "decoder", "head")
    if all(hasattr(net, n) for n in needed):
        return _teacher_sim_codec(net)
    raise TypeError(f"{type(net).__name__} cannot be split into encoder and decoder for BriGeS "
                    "(needs encode()/decode() or the TeacherSimNet layout)")


def feature_channels(depth_model: nn.Module, image_hw: tuple[int, int] = (64, 64)) -> list[int]:
    """Channel count of each encoder level, found with one tiny forward pass."""
    codec = depth_codec(depth_model)
    was_training = depth_model.training
    depth_model.eval()  # never let the probe move BatchNorm statistics
    try:
        with torch.no_grad():
            dummy = torch.zeros(1, 1, 3, *image_hw, device=next(depth_model.parameters()).device)
            return [int(f.shape[2]) for f in codec.encode(dummy)["features"]]
    finally:
        depth_model.train(was_training)


class BriGeS(nn.Module):
    arch = "briges"
    output_kind = "disparity"
    is_teacher = True

    def __init__(self, depth_model: nn.Module, semantic_model: nn.Module,
                 gate_cfg: Optional[GateConfig] = None, base_names: Optional[dict] = None):
        super().__init__()
        self.depth_model = depth_model
        self.semantic_model = semantic_model
        self.codec = depth_codec(depth_model)
        self.freeze_bases()
        if gate_cfg is None:
            gate_cfg = GateConfig()
        if not gate_cfg.depth_channels:
            gate_cfg.depth_channels = feature_channels(depth_model)
        sem_c = getattr(semantic_model, "feature_channels", None)
        if sem_c is not None:
            gate_cfg.semantic_channels = int(sem_c)
        self.gate = BridgingGate(gate_cfg)
        self.base_names = dict(base_names or {})
        self._fingerprints: Optional[dict] = None  # of the frozen bases (computed once)
        self.stale_bases: list[str] = []  # bases that differ from those the gate was trained on
        cfg = getattr(depth_model, "cfg", None)
        self.input_size = tuple(getattr(cfg, "input_size", (288, 160)))
        self.freeze_bases()

    # -- checkpoint: gate weights + base model names ---------------------------------------
    @property
    def config_dict(self) -> dict:
        gate = dataclasses.asdict(self.gate.cfg)
        return {"gate": gate, "depth_model": self.base_names.get("depth_model", ""),
                "semantic_model": self.base_names.get("semantic_model", ""),
                "fingerprints": self.base_fingerprints()}

    def base_fingerprints(self) -> dict:
        if self._fingerprints is None:
            self._fingerprints = {"depth_model": weights_fingerprint(self.depth_model),
                                  "semantic_model": weights_fingerprint(self.semantic_model)}
        return dict(self._fingerprints)

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Only the gate's weights: the frozen base models are stored by name, not copied."""
        return self.gate.state_dict(destination=destination, prefix=prefix + "gate.",
                                    keep_vars=keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        extra = [k for k in state_dict if not k.startswith("gate.")]
        if strict and extra:
            raise RuntimeError("Error(s) in loading state_dict for BriGeS:\n"
                               f"unexpected keys outside the gate: {extra[:5]}")
        gate_sd = {k[len("gate."):]: v for k, v in state_dict.items() if k.startswith("gate.")}
        return self.gate.load_state_dict(gate_sd, strict=strict, assign=assign)

    # -- freezing --------------------------------------------------------------------------
    def freeze_bases(self) -> None:
        for net in (self.depth_model, self.semantic_model):
            for p in net.parameters():
                p.requires_grad_(False)
            net.eval()

    def train(self, mode: bool = True) -> "BriGeS":
        super().train(mode)
        self.depth_model.eval()
        self.semantic_model.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.gate.parameters() if p.requires_grad]

    def parameter_counts(self) -> dict:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return {"trainable": trainable, "frozen": frozen,
                "depth_model": sum(p.numel() for p in self.depth_model.parameters()),
                "semantic_model": sum(p.numel() for p in self.semantic_model.parameters()),
                "gate": sum(p.numel() for p in self.gate.parameters())}

    # -- temperature / attention (display, benchmark) --------------------------------------
    def set_temperature(self, tau: float) -> None:
        self.gate.set_temperature(tau)

    def keep_attention(self, keep: bool = True) -> None:
        self.gate.keep_attention(keep)

    def attention_maps(self) -> dict:
        return self.gate.attention_maps()

    # -- forward ---------------------------------------------------------------------------
    def base_features(self, images: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """Frozen encoders only (no grad): (depth encoder state, semantic features)."""
        with torch.no_grad():
            state = self.codec.encode(images)
            semantic = self.semantic_model(images)["features"]
        return state, semantic

    def forward_from_features(self, state: dict, semantic: torch.Tensor) -> dict:
        gated = self.gate(state["features"], semantic)
        relative = self.codec.decode(state, gated)
        return {"relative": relative, "features": gated, "semantic": semantic}

    def forward(self, images: torch.Tensor) -> dict:
        state, semantic = self.base_features(images)
        return self.forward_from_features(state, semantic)

    def forward_base(self, images: torch.Tensor) -> dict:
        """The depth teacher alone (no gate), for side-by-side comparisons."""
        with torch.no_grad():
            state = self.codec.encode(images)
            return {"relative": self.codec.decode(state, state["features"]),
                    "features": state["features"]}


# ------------------------------------------------------------------ building from names
def load_semantic_model(name_or_path: str) -> nn.Module:
    """The bundled net (checkpoint / name) or Segment Anything from a local transformers folder."""
    path = resolve_model(name_or_path)
    if path.is_dir():
        return SamSemanticEncoder.from_pretrained(path)
    model, _ = load_checkpoint(path)
    if getattr(model, "output_kind", "") != "semantic":
        raise CheckpointError(path, f"not a semantic model (arch {getattr(model, 'arch', '?')!r})")
    return model


def load_depth_model(name_or_path: str) -> nn.Module:
    path = resolve_model(name_or_path)
    model, _ = load_checkpoint(path)
    if getattr(model, "output_kind", "") != "disparity":
        raise CheckpointError(path, "BriGeS needs a relative (disparity) depth teacher, got "
                                    f"output_kind={getattr(model, 'output_kind', None)!r}")
    try:
        depth_codec(model)
    except TypeError as exc:
        raise CheckpointError(path, str(exc)) from exc
    return model


def build_briges(config: dict) -> BriGeS:
    """Arch-registry builder (``arch == "briges"``): loads the named base models, fresh gate."""
    config = dict(config)
    unknown = set(config) - {"gate", "depth_model", "semantic_model", "fingerprints"}
    if unknown:
        raise ValueError(f"unknown BriGeS config keys {sorted(unknown)}")
    depth_name = config.get("depth_model") or "teacher_sim"
    semantic_name = config.get("semantic_model") or "semantic_sim"
    gate = GateConfig(**dict(config.get("gate") or {}))
    model = BriGeS(load_depth_model(depth_name), load_semantic_model(semantic_name), gate,
                   base_names={"depth_model": depth_name, "semantic_model": semantic_name})
    trained_on = dict(config.get("fingerprints") or {})
    now = model.base_fingerprints()
    model.stale_bases = [k for k, v in trained_on.items() if now.get(k) != v]
    if model.stale_bases:
        names = ", ".join(f"{k} {model.base_names[k]!r}" for k in model.stale_bases)
        warnings.warn(f"BriGeS gate was trained on other weights of {names} (the base model file "
                      "changed since); retrain it with `fsmde train --recipe briges-gate`",
                      stacklevel=2)
    return model
