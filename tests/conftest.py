"""Shared fixtures: the real nuScenes keyframe beside the checkout and a tiny simulator dataset."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYFRAME = (REPO.parent / "shared" / "data" / "nuscenes-keyframe").resolve()
SAMPLE = REPO / "resources" / "sample_scenes"

os.environ.setdefault("FSMDE_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def keyframe_root() -> Path:
    """The real nuScenes keyframe (../shared/data/nuscenes-keyframe), read only."""
    if not (KEYFRAME / "v1.0-mini" / "sample.json").exists():
        pytest.fail(f"real keyframe missing at {KEYFRAME} (CI keeps ../shared beside the checkout)")
    return KEYFRAME


@pytest.fixture(scope="session")
def tiny_sim_root(tmp_path_factory) -> Path:
    """A tiny simulator dataset (1 scene x 3 frames, low resolution) in nuScenes format."""
    from fsmde_gui.data.simulator.generate import generate_dataset

    out = tmp_path_factory.mktemp("tiny_sim")
    generate_dataset(out, preset="tiny", seed=123)
    return out
