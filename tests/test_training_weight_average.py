"""``ema_decay``: final.pt holds the exponential moving average of the trained weights, the
average survives a cancel + resume exactly, and a mismatched resume is refused."""
from __future__ import annotations

import threading

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError, TrainingError
from fsmde_gui.models.checkpoint import load_checkpoint
from fsmde_gui.training.config import TrainConfig
from fsmde_gui.training.trainer import Trainer

from test_training_trainer import make_cfg, weights


def _cfg(root, out, **kw) -> TrainConfig:
    # constant lr, no warm-up: the first step of a 1-step run is the first step of a 2-step run
    return make_cfg(root, out, schedule="constant", warmup_steps=0, color_jitter=0.0, **kw)


def test_final_weights_are_the_moving_average(tiny_sim_root, tmp_path):
    assert Trainer(_cfg(tiny_sim_root, tmp_path / "one", steps=1)).run()["event"] == "done"
    assert Trainer(_cfg(tiny_sim_root, tmp_path / "two", steps=2)).run()["event"] == "done"
    res = Trainer(_cfg(tiny_sim_root, tmp_path / "ema", steps=2, ema_decay=0.75)).run()
    assert res["event"] == "done"
    w1, w2 = weights(tmp_path / "one" / "final.pt"), weights(tmp_path / "two" / "final.pt")
    we = weights(tmp_path / "ema" / "final.pt")
    moved = 0
    for k, v in we.items():
        if not v.is_floating_point():
            continue
        expected = 0.75 * w1[k] + 0.25 * w2[k]  # the first update copies w1
        assert torch.allclose(v, expected, atol=1e-6), k
        moved += int(not torch.equal(w1[k], w2[k]))
    assert moved > 10  # the two steps really differ, so the check above can fail
    _, meta = load_checkpoint(tmp_path / "ema" / "final.pt")
    assert meta["ema_decay"] == 0.75
    # the raw weights go on training: the resumable state holds both
    state = torch.load(tmp_path / "ema" / "checkpoints" / "last.pt", weights_only=True)
    assert state["weight_average"]["decay"] == 0.75
    for k, v in state["model"].items():
        if v.is_floating_point():
            assert torch.allclose(v, w2[k], atol=1e-6), k


def test_resume_keeps_the_average(tiny_sim_root, tmp_path):
    ref = Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=6, ema_decay=0.5)).run()
    assert ref["event"] == "done"
    cancel = threading.Event()
    cfg = make_cfg(tiny_sim_root, tmp_path / "b", steps=6, ema_decay=0.5)
    part = Trainer(cfg).run(progress=lambda ev: ev.get("step") == 3 and cancel.set(),
                            cancel=cancel)
    assert part["event"] == "cancelled" and part["step"] == 3
    assert Trainer(cfg, resume=True).run()["event"] == "done"
    wa, wb = weights(tmp_path / "a" / "final.pt"), weights(tmp_path / "b" / "final.pt")
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6), k


def test_resume_with_another_decay_is_refused(tiny_sim_root, tmp_path):
    cancel = threading.Event()
    cfg = make_cfg(tiny_sim_root, tmp_path, steps=6)
    Trainer(cfg).run(progress=lambda ev: ev.get("step") == 2 and cancel.set(), cancel=cancel)
    with pytest.raises(CheckpointError, match="no weight average"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=6, ema_decay=0.9), resume=True).run()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, True, "0.9"])
def test_bad_decay_is_refused(bad):
    with pytest.raises(TrainingError, match="ema_decay"):
        TrainConfig(ema_decay=bad).validate()
