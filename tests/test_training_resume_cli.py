"""`fsmde train --resume`: the run's saved config.json is reused; another dataset is refused."""
from __future__ import annotations

import json

import pytest
import torch

from fsmde_gui.cli import main
from fsmde_gui.core.errors import TrainingError
from fsmde_gui.training.config import load_resume_config

SMALL = ('{"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1], '
         '"decoder_widths": [32, 24, 16, 16], "bin_hidden": 32, "num_bins": 16}')


def _train(root, out, *extra):
    return main(["train", "--recipe", "supervised", "--dataset", str(root), "--out", str(out),
                 "--progress", "none", "--set", "image_size=[96,64]", "--set", "warmup_steps=1",
                 "--set", "checkpoint_every=0", "--set", f"student={SMALL}", *extra])


def test_resume_reuses_the_saved_config(tiny_sim_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_sim_root, out, "--steps", "2", "--set", "lr=0.002") == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["steps"] == 2 and saved["student"]["num_bins"] == 16
    # no --dataset, --recipe, --set: all of it comes from OUT/config.json (a default student
    # would not even load the checkpoint's weights)
    assert main(["train", "--resume", "--out", str(out), "--steps", "3",
                 "--progress", "none"]) == 0
    resumed = json.loads((out / "config.json").read_text())
    assert resumed == saved | {"steps": 3}
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3


def test_resume_refuses_another_dataset(tiny_sim_root, keyframe_root, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"recipe": "supervised",
                                                 "dataset": str(tiny_sim_root), "out": str(out)}))
    rc = main(["train", "--resume", "--out", str(out), "--dataset", str(keyframe_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("fsmde train: error: ") and "--resume cannot switch it to" in err[0]
    assert str(keyframe_root) in err[0] and str(tiny_sim_root) in err[0]
    with pytest.raises(TrainingError, match="scenes scene-1"):
        load_resume_config(None, [], out=str(out), dataset_scenes=["scene-1"])
    # the same data, named again, is fine; other options may change
    cfg = load_resume_config(None, ["lr=0.01"], out=str(out), dataset=str(tiny_sim_root))
    assert cfg.lr == 0.01 and cfg.recipe == "supervised"


def test_resume_without_saved_config_is_a_fresh_config(tmp_path):
    cfg = load_resume_config(None, [], out=str(tmp_path / "new"), steps=7)
    assert cfg.steps == 7 and cfg.out == str(tmp_path / "new")
