"""The Bridging Gate of BriGeS (docs/METHOD.md P2): semantic features enter the depth features.

For each gated level of a depth encoder:

1. the semantic feature map is resampled onto that level's token grid the way the authors'
   code does it (bilinear to twice the grid, then 2x2 max-pool), so queries and keys have
   the same token count;
2. one pre-norm **cross-attention** block (depth tokens = queries, semantic tokens =
   keys/values, multi-head, MLP ratio 4, residual);
3. one standard pre-norm **self-attention** block;
4. the result replaces that level's depth features before the (frozen) depth decoder.

**Attention Temperature Scaling**: every attention divides its logits by ``tau`` before the
softmax (``tau > 1`` softer maps, ``tau < 1`` sharper). Attention is written out explicitly
when the maps are wanted (``keep_attention=True`` stores the last maps, for display and for
the entropy benchmark); otherwise ``F.scaled_dot_product_attention`` with the scale
``1 / (tau * sqrt(d))`` computes the same numbers faster.

**Ours**: the output projections of both attentions and both MLPs start at zero, so an
untrained gate is exactly the identity and gate-only training starts from the depth
teacher's own prediction (the gradients still reach every weight).

Shapes: features ``(B, V, C, h, w)`` (V = views) or ``(N, C, h, w)``; tokens ``(N, L, C)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GateConfig:
    """Configuration of the gates of one BriGeS model (stored in its checkpoint)."""

    depth_channels: list[int] = field(default_factory=list)  # C of each depth level
    semantic_channels: int = 64  # C of the semantic feature map
    levels: Optional[list[int]] = None  # depth levels to gate (None = all)
    num_heads: int = 4  # upper bound: each level uses the largest divisor of C <= this
    mlp_ratio: float = 4.0
    tau: float = 2.0  # attention temperature (1 = no scaling)
    max_tokens: int = 1024  # levels with more tokens attend on a pooled grid (CPU budget)

    def gated_levels(self) -> list[int]:
        n = len(self.depth_channels)
        levels = list(range(n)) if self.levels is None else [int(i) for i in self.levels]
        for i in levels:
            if not 0 <= i < n:
                raise ValueError(f"gate level {i} out of range for {n} depth levels")
        return levels


def heads_for(channels: int, max_heads: int) -> int:
    """Largest head count <= max_heads that divides ``channels``."""
    for h in range(max(1, min(max_heads, channels)), 0, -1):
        if channels % h == 0:
            return h
    return 1


def resample_semantic(semantic: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """(N, C, hs, ws) -> (N, C, h, w): bilinear to (2h, 2w), then 2x2 max-pool (authors' way)."""
    h, w = int(grid_hw[0]), int(grid_hw[1])
    up = F.interpolate(semantic, size=(2 * h, 2 * w), mode="bilinear", align_corners=False)
    return F.max_pool2d(up, kernel_size=2)


def attention_entropy(attn: torch.Tensor, normalized: bool = True) -> torch.Tensor:
    """Mean Shannon entropy (nats) of attention rows ``(..., Lq, Lk)``; normalised by log(Lk)."""
    p = attn.clamp_min(1e-12)
    ent = -(attn * p.log()).sum(-1)
    if normalized and attn.shape[-1] > 1:
        ent = ent / math.log(attn.shape[-1])
    return ent.mean()


class TemperatureAttention(nn.Module):
    """Multi-head attention with logits / tau; optional keys/values of another width."""

    def __init__(self, dim: int, num_heads: int, kv_dim: Optional[int] = None,
                 tau: float = 1.0, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} not divisible by {num_heads} heads")
        kv_dim = dim if kv_dim is None else kv_dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.tau = float(tau)
        self.keep_attention = False
        self.last_attention: Optional[torch.Tensor] = None  # (N, heads, Lq, Lk)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(kv_dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        context = x if context is None else context
        q = self._split(self.q(x))
        k, v = self.kv(context).chunk(2, dim=-1)
        k, v = self._split(k), self._split(v)
        if self.tau <= 0:
            raise ValueError(f"attention temperature must be > 0, got {self.tau}")
        scale = 1.0 / (self.tau * math.sqrt(self.head_dim))
        if self.keep_attention:
            attn = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
            self.last_attention = attn.detach()
            out = attn @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=scale)
        out = out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.proj(out)


class Mlp(nn.Sequential):
    def __init__(self, dim: int, ratio: float):
        hidden = int(round(dim * ratio))
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class CrossAttentionBlock(nn.Module):
    """Pre-norm: x + CrossAttn(LN(x), LN(ctx)); x + MLP(LN(x))."""

    def __init__(self, dim: int, context_dim: int, num_heads: int, mlp_ratio: float, tau: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(context_dim, eps=1e-6)
        self.attn = TemperatureAttention(dim, num_heads, kv_dim=context_dim, tau=tau)
        self.norm_mlp = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_q(x), self.norm_kv(context))
        return x + self.mlp(self.norm_mlp(x))


class SelfAttentionBlock(nn.Module):
    """Standard pre-norm transformer block: x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, tau: float):
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TemperatureAttention(dim, num_heads, tau=tau)
        self.norm_mlp = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.mlp(self.norm_mlp(x))


def _zero_init_outputs(block: nn.Module) -> None:
    nn.init.zeros_(block.attn.proj.weight)
    nn.init.zeros_(block.attn.proj.bias)
    last = block.mlp[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


class LevelGate(nn.Module):
    """Cross-attention then self-attention for one depth level; returns the new features."""

    def __init__(self, depth_channels: int, semantic_channels: int, num_heads: int,
                 mlp_ratio: float, tau: float, max_tokens: int):
        super().__init__()
        heads = heads_for(depth_channels, num_heads)
        self.max_tokens = int(max_tokens)
        self.cross = CrossAttentionBlock(depth_channels, semantic_channels, heads, mlp_ratio, tau)
        self.self_attn = SelfAttentionBlock(depth_channels, heads, mlp_ratio, tau)
        _zero_init_outputs(self.cross)
        _zero_init_outputs(self.self_attn)

    def token_grid(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The grid the gate attends on: the level's own grid, pooled while over max_tokens."""
        h, w = hw
        while h * w > self.max_tokens and h > 1 and w > 1:
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def forward(self, depth: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """depth (N, C, h, w), semantic (N, Cs, hs, ws) -> (N, C, h, w)."""
        n, c, h, w = depth.shape
        gh, gw = self.token_grid((h, w))
        pooled = depth if (gh, gw) == (h, w) else F.adaptive_avg_pool2d(depth, (gh, gw))
        sem = resample_semantic(semantic, (gh, gw))
        tokens = pooled.flatten(2).transpose(1, 2)  # (N, L, C)
        context = sem.flatten(2).transpose(1, 2)  # (N, L, Cs)
        out = self.self_attn(self.cross(tokens, context))
        out = out.transpose(1, 2).reshape(n, c, gh, gw)
        if (gh, gw) == (h, w):
            return out
        # attended on a coarser grid: add the (upsampled) change to the full-resolution features
        delta = F.interpolate(out - pooled, size=(h, w), mode="bilinear", align_corners=False)
        return depth + delta


class BridgingGate(nn.Module):
    """All level gates of one model. ``forward(depth_features, semantic)`` -> new feature list.

    ``depth_features``: list of ``(B, V, C_l, h_l, w_l)`` (or ``(N, C, h, w)``);
    ``semantic``: ``(B, V, Cs, hs, ws)`` (or ``(N, Cs, hs, ws)``). Ungated levels pass through.
    """

    def __init__(self, cfg: GateConfig):
        super().__init__()
        if not cfg.depth_channels:
            raise ValueError("GateConfig.depth_channels is empty")
        self.cfg = cfg
        self.levels = cfg.gated_levels()
        self.gates = nn.ModuleDict({
            str(i): LevelGate(cfg.depth_channels[i], cfg.semantic_channels, cfg.num_heads,
                              cfg.mlp_ratio, cfg.tau, cfg.max_tokens)
            for i in self.levels
        })

    # -- temperature and attention maps ----------------------------------------------------
    def attentions(self):
        return [m for m in self.modules() if isinstance(m, TemperatureAttention)]

    @property
    def tau(self) -> float:
        return self.cfg.tau

    def set_temperature(self, tau: float) -> None:
        if tau <= 0:
            raise ValueError(f"attention temperature must be > 0, got {tau}")
        self.cfg.tau = float(tau)
        for a in self.attentions():
            a.tau = float(tau)

    def keep_attention(self, keep: bool = True) -> None:
        """Store the last attention maps (explicit softmax) on every attention."""
        for a in self.attentions():
            a.keep_attention = bool(keep)
            if not keep:
                a.last_attention = None

    def attention_maps(self) -> dict[str, torch.Tensor]:
        """Last stored maps: ``{"level{i}/cross": (N, heads, Lq, Lk), "level{i}/self": ...}``."""
        maps = {}
        for i in self.levels:
            gate = self.gates[str(i)]
            for kind, attn in (("cross", gate.cross.attn), ("self", gate.self_attn.attn)):
                if attn.last_attention is not None:
                    maps[f"level{i}/{kind}"] = attn.last_attention
        return maps

    # -- forward ---------------------------------------------------------------------------
    def forward(self, depth_features: Sequence[torch.Tensor],
                semantic: torch.Tensor) -> list[torch.Tensor]:
        if len(depth_features) != len(self.cfg.depth_channels):
            raise ValueError(f"expected {len(self.cfg.depth_channels)} depth levels, "
                             f"got {len(depth_features)}")
        multi_view = semantic.dim() == 5
        sem = semantic.flatten(0, 1) if multi_view else semantic
        out = []
        for i, feat in enumerate(depth_features):
            if str(i) not in self.gates:
                out.append(feat)
                continue
            lead = feat.shape[:2] if multi_view else feat.shape[:1]
            flat = feat.flatten(0, 1) if multi_view else feat
            new = self.gates[str(i)](flat, sem.to(flat.dtype))
            out.append(new.view(*lead, *new.shape[1:]))
        return out
