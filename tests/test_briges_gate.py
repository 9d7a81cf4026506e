"""Bridging Gate: shapes, resampling, identity at init, temperature scaling and its entropy."""
from __future__ import annotations

import math

import pytest
import torch

from fsmde_gui.models.bridging_gate import (BridgingGate, GateConfig, LevelGate,
                                            TemperatureAttention, attention_entropy,
                                            resample_semantic)

torch.set_num_threads(1)


def _randomise_outputs(gate: torch.nn.Module) -> None:
    """Zero-initialised output layers -> random, so the gate is no longer the identity."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in gate.parameters():
            if p.abs().sum() == 0 and p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def test_resample_semantic_bilinear_then_maxpool():
    sem = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    out = resample_semantic(sem, (2, 3))
    assert out.shape == (1, 1, 2, 3)
    up = torch.nn.functional.interpolate(sem, size=(4, 6), mode="bilinear", align_corners=False)
    assert torch.allclose(out, torch.nn.functional.max_pool2d(up, 2))
    # max-pool keeps the largest value of each 2x2 cell: bottom-right corner is the global max
    assert out[0, 0, -1, -1] == up.max()


def test_gate_shapes_multi_view_and_ungated_level_passthrough():
    cfg = GateConfig(depth_channels=[16, 32, 48], semantic_channels=8, levels=[1, 2],
                     num_heads=4, tau=2.0, max_tokens=64)
    gate = BridgingGate(cfg)
    feats = [torch.randn(2, 6, 16, 20, 24), torch.randn(2, 6, 32, 10, 12),
             torch.randn(2, 6, 48, 5, 6)]
    sem = torch.randn(2, 6, 8, 7, 9)
    _randomise_outputs(gate)
    out = gate(feats, sem)
    assert [o.shape for o in out] == [f.shape for f in feats]
    assert out[0] is feats[0]  # level 0 is not gated
    assert not torch.allclose(out[1], feats[1])
    assert not torch.allclose(out[2], feats[2])
    with pytest.raises(ValueError):
        gate(feats[:2], sem)


def test_untrained_gate_is_identity_but_gets_gradients():
    cfg = GateConfig(depth_channels=[32], semantic_channels=8, num_heads=4)
    gate = BridgingGate(cfg)
    feats = [torch.randn(1, 6, 32, 6, 8)]
    out = gate(feats, torch.randn(1, 6, 8, 3, 4))
    assert torch.allclose(out[0], feats[0])
    out[0].pow(2).sum().backward()
    grads = [p.grad for p in gate.parameters()]
    assert sum(int(g is not None and g.abs().sum() > 0) for g in grads) > 0
    proj = gate.gates["0"].cross.attn.proj.weight
    assert proj.grad is not None and proj.grad.abs().sum() > 0


def test_level_gate_pools_large_grids_and_keeps_resolution():
    gate = LevelGate(16, 8, num_heads=2, mlp_ratio=4.0, tau=1.0, max_tokens=50)
    assert gate.token_grid((20, 24)) == (5, 6)
    _randomise_outputs(gate)
    for a in (gate.cross.attn, gate.self_attn.attn):
        a.keep_attention = True
    out = gate(torch.randn(3, 16, 20, 24), torch.randn(3, 8, 5, 5))
    assert out.shape == (3, 16, 20, 24)
    assert gate.cross.attn.last_attention.shape == (3, 2, 30, 30)
    assert gate.self_attn.attn.last_attention.shape == (3, 2, 30, 30)


def test_explicit_attention_equals_sdpa_at_any_temperature():
    torch.manual_seed(0)
    attn = TemperatureAttention(32, 4, kv_dim=12, tau=2.0)
    x, ctx = torch.randn(2, 10, 32), torch.randn(2, 7, 12)
    for tau in (0.5, 1.0, 2.0):
        attn.tau = tau
        attn.keep_attention = False
        fast = attn(x, ctx)
        attn.keep_attention = True
        slow = attn(x, ctx)
        assert torch.allclose(fast, slow, atol=1e-5)
        rows = attn.last_attention.sum(-1)
        assert torch.allclose(rows, torch.ones_like(rows), atol=1e-5)


def test_temperature_divides_logits_and_raises_entropy():
    torch.manual_seed(0)
    attn = TemperatureAttention(16, 2, tau=1.0)
    with torch.no_grad():  # sharp attention: large query/key weights
        attn.q.weight.mul_(8.0)
        attn.kv.weight[:16].mul_(8.0)
    attn.keep_attention = True
    x = torch.randn(1, 40, 16)
    entropies = {}
    maps = {}
    for tau in (0.5, 1.0, 2.0, 4.0):
        attn.tau = tau
        attn(x)
        maps[tau] = attn.last_attention
        entropies[tau] = float(attention_entropy(attn.last_attention))
    assert entropies[0.5] < entropies[1.0] < entropies[2.0] < entropies[4.0]
    assert 0.0 <= entropies[0.5] and entropies[4.0] <= 1.0
    # tau=2 maps are the softmax of the tau=1 logits halved: check against the definition
    logits = torch.log(maps[1.0].clamp_min(1e-30))
    expected = torch.softmax(logits / 2.0, dim=-1)
    assert torch.allclose(maps[2.0], expected, atol=1e-4)
    # the maximum attention weight (over-concentration) drops as tau grows
    assert maps[4.0].amax(-1).mean() < maps[1.0].amax(-1).mean()


def test_gate_set_temperature_reaches_every_attention_and_maps_are_named():
    cfg = GateConfig(depth_channels=[16, 32], semantic_channels=8, tau=2.0)
    gate = BridgingGate(cfg)
    assert all(a.tau == 2.0 for a in gate.attentions())
    gate.set_temperature(0.5)
    assert gate.tau == 0.5 and all(a.tau == 0.5 for a in gate.attentions())
    with pytest.raises(ValueError):
        gate.set_temperature(0.0)
    gate.keep_attention(True)
    gate([torch.randn(1, 2, 16, 4, 4), torch.randn(1, 2, 32, 2, 2)], torch.randn(1, 2, 8, 3, 3))
    maps = gate.attention_maps()
    assert set(maps) == {"level0/cross", "level0/self", "level1/cross", "level1/self"}
    assert maps["level0/cross"].shape == (2, 4, 16, 16)
    assert maps["level1/self"].shape == (2, 4, 4, 4)
    gate.keep_attention(False)
    assert gate.attention_maps() == {}


def test_entropy_normalisation():
    uniform = torch.full((1, 1, 3, 8), 1 / 8)
    assert math.isclose(float(attention_entropy(uniform)), 1.0, rel_tol=1e-5)
    onehot = torch.zeros(1, 1, 3, 8)
    onehot[..., 0] = 1.0
    assert float(attention_entropy(onehot)) < 1e-6


def test_bad_config_is_rejected():
    with pytest.raises(ValueError):
        BridgingGate(GateConfig(depth_channels=[]))
    with pytest.raises(ValueError):
        BridgingGate(GateConfig(depth_channels=[16], levels=[3]))
