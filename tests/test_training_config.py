"""TrainConfig.validate: ranges and types of every training option, at the boundary."""
from __future__ import annotations

import math

import pytest

from fsmde_gui.core.errors import TrainingError
from fsmde_gui.training.config import TrainConfig


@pytest.mark.parametrize("key, value, needle", [
    ("steps", 2.5, "steps must be an integer"),
    ("steps", 0, "steps must be >= 1"),
    ("batch_size", True, "batch_size must be an integer"),
    ("lr", math.nan, "lr must be a finite number > 0"),
    ("lr", -1e-3, "lr must be a finite number > 0"),
    ("max_depth", math.inf, "max_depth must be a finite number > 0"),
    ("gt_weight", math.nan, "gt_weight must be a finite number >= 0"),
    ("ckd_weight", -1.0, "ckd_weight must be a finite number >= 0"),
    ("min_depth", 90.0, "min_depth 90.0 must be < max_depth"),
    ("image_size", [16000, 16000], "must be 16..4096 per side"),
])
def test_bad_options_are_one_readable_error(key, value, needle):
    with pytest.raises(TrainingError, match=needle) as info:
        TrainConfig.from_dict(TrainConfig().to_dict() | {key: value}, "cfg.yaml")
    assert str(info.value).startswith("cfg.yaml: ") and "\n" not in str(info.value)


def test_defaults_validate():
    cfg = TrainConfig.from_dict(TrainConfig().to_dict())
    assert cfg.steps >= 1 and cfg.lr > 0 and cfg.min_depth < cfg.max_depth
