"""``extra.freeze_encoder``: a kd fine-tune trains the decoder and bins, not the encoder."""
from __future__ import annotations

import torch

from fsmde_gui.models.checkpoint import build_model, save_checkpoint
from fsmde_gui.training.trainer import Trainer

from test_training_trainer import SMALL_TEACHER, make_cfg, weights


def test_frozen_encoder_keeps_its_weights_and_statistics(tiny_sim_root, tmp_path):
    teacher = build_model("teacher_sim", dict(SMALL_TEACHER, input_size=[96, 64]))
    tpath = save_checkpoint(tmp_path / "teacher.pt", teacher, meta={})
    start = Trainer(make_cfg(tiny_sim_root, tmp_path / "start", steps=2)).run()["final"]
    before = weights(start)
    cfg = make_cfg(tiny_sim_root, tmp_path / "ft", recipe="kd", steps=3, init_checkpoint=start,
                   student={}, teacher_checkpoint=str(tpath), extra={"freeze_encoder": True})
    trainer = Trainer(cfg)
    assert trainer.run()["event"] == "done"
    after = weights(tmp_path / "ft" / "final.pt")
    encoder = [k for k in before if k.startswith(("stem.", "stages.", "camera_embed"))]
    rest = [k for k in before if k.startswith(("decoder.", "binning."))
            and before[k].is_floating_point()]
    assert any("running_mean" in k for k in encoder) and len(rest) > 5
    for k in encoder:  # weights and batch-norm statistics alike
        assert torch.equal(before[k], after[k]), k
    assert sum(not torch.equal(before[k], after[k]) for k in rest) > len(rest) // 2
    trained = {id(p) for p in trainer.recipe.parameters()}
    assert not any(id(p) in trained for p in trainer.recipe.model.stem.parameters())
