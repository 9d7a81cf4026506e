"""Dataset presets of the simulator and their (disjoint) scene-seed ranges.

Scene ``i`` of preset P generated with ``--seed S`` uses the scene seed
``P.seed_base + S * 1000 + i`` (S in 0..999, i in 0..999), so every preset owns its own range:

| preset  | scenes x frames | size    | scene seeds            | use                          |
|---------|-----------------|---------|------------------------|------------------------------|
| tiny    | 1 x 3           | 224x128 | 4,000,000 - 4,999,999  | tests                        |
| sample  | 2 x 20          | 448x256 | 3,000,000 - 3,999,999  | bundled sample, app, demos   |
| train   | 8 x 20          | 448x256 | 1,000,000 - 1,999,999  | student training             |
| student | 24 x 20         | 448x256 | 5,000,000 - 5,999,999  | the shipped students (P1)    |
| teacher | 16 x 12         | 448x256 | 2,000,000 - 2,999,999  | teacher training (more varied)|
| heldout | 12 x 10         | 448x256 | 9,000,000 - 9,999,999  | evaluation only              |
"""
from __future__ import annotations

from dataclasses import dataclass

from fsmde_gui.core.errors import FsmdeError


@dataclass(frozen=True)
class Preset:
    name: str
    num_scenes: int
    num_frames: int
    width: int
    height: int
    seed_base: int
    variety: float = 0.0  # widens every randomised range (0 = default street distribution)
    description: str = ""


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("tiny", 1, 3, 224, 128, 4_000_000, 0.0, "tests: 1 scene x 3 frames at 224x128"),
    Preset("sample", 2, 20, 448, 256, 3_000_000, 0.0, "bundled sample scenes"),
    Preset("train", 8, 20, 448, 256, 1_000_000, 0.0, "student training scenes"),
    Preset("student", 24, 20, 448, 256, 5_000_000, 0.0,
           "student training (the shipped students and the P1 ablation)"),
    Preset("teacher", 16, 12, 448, 256, 2_000_000, 1.0,
           "teacher training: more, more varied scenes"),
    Preset("heldout", 12, 10, 448, 256, 9_000_000, 0.0,
           "held-out evaluation scenes (seeds disjoint from all other presets)"),
)}
MAX_SEED = 999
FRAME_DT_S = 0.1  # 10 Hz


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise FsmdeError(f"unknown simulator preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def scene_seed(preset: Preset, seed: int, index: int) -> int:
    if not 0 <= int(seed) <= MAX_SEED:
        raise FsmdeError(f"simulator seed must be in 0..{MAX_SEED}, got {seed}")
    if not 0 <= index < 1000:
        raise FsmdeError(f"at most 1000 scenes per preset and seed, got index {index}")
    return preset.seed_base + int(seed) * 1000 + int(index)
