"""Shared fixtures: the real nuScenes keyframe bundled under resources/ and a tiny simulator dataset."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYFRAME = REPO / "resources" / "nuscenes-keyframe"
SAMPLE = REPO / "resources" / "sample_scenes"

os.environ.setdefault("FSMDE_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def keyframe_root() -> Path:
    """The real nuScenes keyframe bundled with the repository (resources/), read only."""
    if not (KEYFRAME / "v1.0-mini" / "sample.json").exists():
        pytest.fail(f"real keyframe missing at {KEYFRAME} (it is part of the repository)")
    return KEYFRAME


@pytest.fixture(scope="session")
def real_scene_root() -> Path:
    """A real multi-keyframe nuScenes scene with 3D boxes, when one is available: the folder in
    ``FSMDE_REAL_SCENE`` (e.g. nuScenes scene-0916 in the official table layout). Skips
    otherwise; read only."""
    root = os.environ.get("FSMDE_REAL_SCENE")
    if not root or not list(Path(root).glob("v1.0-*/sample_annotation.json")):
        pytest.skip("no real nuScenes scene with boxes (set FSMDE_REAL_SCENE to one)")
    return Path(root)


@pytest.fixture(scope="session")
def tiny_sim_root(tmp_path_factory) -> Path:
    """A tiny simulator dataset (1 scene x 3 frames, low resolution) in nuScenes format."""
    from fsmde_gui.data.simulator.generate import generate_dataset

    out = tmp_path_factory.mktemp("tiny_sim")
    generate_dataset(out, preset="tiny", seed=123)
    return out
