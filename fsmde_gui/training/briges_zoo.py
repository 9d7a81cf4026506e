"""Shipped-model specs of the BriGeS area (imported by ``training.model_specs``).

Order matters (each needs the one before): ``teacher_sim`` (core spec) -> ``semantic_sim``
(semantic net on the train scenes' semantic GT) -> ``teacher_briges`` (gate-only training,
tau = 2) -> ``teacher_briges_tau1`` (same gate trained without temperature scaling, for the
ablation row of ``benchmarks/bench_briges.py``). The gate recipes find ``semantic_sim.pt``
beside the ``teacher_sim.pt`` the zoo passes as ``teacher_checkpoint``.
"""
from __future__ import annotations

from .model_zoo import COMMON, ModelSpec, add_spec

GATE = COMMON | {"steps": 600, "lr": 5e-4, "warmup_steps": 20, "weight_decay": 1e-4,
                 "checkpoint_every": 200}

add_spec(ModelSpec(
    "semantic_sim", "semantic", "train", seed=0, evaluate=False,
    config=COMMON | {"steps": 600, "lr": 2e-3},
    description="bundled semantic teacher for BriGeS: small segmentation net trained on the "
                "simulator's semantic GT (balanced cross-entropy); features at stride 8"))
add_spec(ModelSpec(
    "teacher_briges", "briges-gate", "teacher", seed=0, depends_on="teacher_sim",
    config=GATE | {"extra": {"tau": 2.0, "semantic_model": "semantic_sim", "views_per_step": 2}},
    half_storage=True,
    description="BriGeS: frozen teacher_sim + frozen semantic_sim + trained bridging gates "
                "(cross- then self-attention per level, attention temperature 2)"))
add_spec(ModelSpec(
    "teacher_briges_tau1", "briges-gate", "teacher", seed=0, depends_on="teacher_sim",
    config=GATE | {"extra": {"tau": 1.0, "semantic_model": "semantic_sim", "views_per_step": 2}},
    half_storage=True,
    description="BriGeS ablation: the same gates trained without temperature scaling (tau 1)"))
