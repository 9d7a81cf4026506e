"""The streaming training data path: items decoded per step through a DataLoader (workers),
exact step batches on resume, the on-disk sample cache, fine-tuning from a checkpoint, and
the trainer's honest message when no checkpoint exists yet."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from fsmde_gui.core.errors import CheckpointError, DatasetError, TrainingError
from fsmde_gui.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from fsmde_gui.training.dataset import StepBatchSampler, SurroundTrainingSet
from fsmde_gui.training.recipes import SupervisedRecipe
from fsmde_gui.training.trainer import Trainer

from test_training_trainer import SMALL_STUDENT, make_cfg, weights


def test_step_batches_are_a_function_of_the_step():
    data = list(range(5))
    sampler = DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=7)
    full = list(StepBatchSampler(sampler, batch_size=2, start=0, steps=9))
    resumed = list(StepBatchSampler(sampler, batch_size=2, start=4, steps=9))
    assert len(full) == 9 and resumed == full[4:]
    per_epoch = 3  # ceil(5 / 2)
    first_epoch = [i for b in full[:per_epoch] for i in b][:5]
    assert sorted(first_epoch) == data  # every item once per epoch (the last batch wraps)
    assert full[:per_epoch] != full[per_epoch:2 * per_epoch]  # reshuffled per epoch


def test_items_are_decoded_per_index_not_held(tiny_sim_root):
    ds = SurroundTrainingSet(tiny_sim_root, (96, 64))
    assert not hasattr(ds, "samples")  # nothing kept in memory between items
    a, b = ds[1], ds[1]
    assert a["images"].shape == (6, 3, 64, 96) and int(a["index"]) == 1
    assert torch.equal(a["images"], b["images"])
    assert torch.equal(a["depth_sparse"], b["depth_sparse"])


def test_sample_cache_is_written_once_and_read_back(tiny_sim_root, tmp_path):
    ds = SurroundTrainingSet(tiny_sim_root, (96, 64), cache_dir=tmp_path / "cache")
    first = ds[2]
    files = list((tmp_path / "cache").rglob("*.pt"))
    assert len(files) == 1
    again = SurroundTrainingSet(tiny_sim_root, (96, 64), cache_dir=tmp_path / "cache")[2]
    assert torch.equal(first["images"], again["images"])
    # the cache is what is read: a changed entry changes the item
    entry = torch.load(files[0], weights_only=True)
    entry["depth_sparse"] = entry["depth_sparse"] + 1.0
    torch.save(entry, files[0])
    changed = SurroundTrainingSet(tiny_sim_root, (96, 64), cache_dir=tmp_path / "cache")[2]
    assert torch.allclose(changed["depth_sparse"], first["depth_sparse"] + 1.0)
    # another input size is another cache folder
    SurroundTrainingSet(tiny_sim_root, (64, 48), cache_dir=tmp_path / "cache")[2]
    assert len({f.parent for f in (tmp_path / "cache").rglob("*.pt")}) == 2
    files[0].write_bytes(b"not a torch file")
    with pytest.raises(DatasetError, match="training cache entry"):
        SurroundTrainingSet(tiny_sim_root, (96, 64), cache_dir=tmp_path / "cache")[2]


def test_loader_workers_give_the_same_run(tiny_sim_root, tmp_path):
    seen = {"a": [], "b": []}
    original = SupervisedRecipe.step

    def spy(self, batch):
        seen[self.cfg.out[-1]].append((batch["index"].tolist(), batch["images"].sum().item()))
        return original(self, batch)

    SupervisedRecipe.step = spy
    try:
        inline = Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=4)).run()
        workers = Trainer(make_cfg(tiny_sim_root, tmp_path / "b", steps=4, num_workers=1,
                                   cache_dir=str(tmp_path / "cache"))).run()
    finally:
        SupervisedRecipe.step = original
    assert seen["a"] == seen["b"] and len(seen["a"]) == 4  # the same batches, bit for bit
    assert inline["losses"] == workers["losses"]
    assert 0.0 <= workers["data_wait_frac"] < 1.0 and workers["data_wait_s"] >= 0.0


def test_fine_tuning_starts_from_the_checkpoint(tiny_sim_root, tmp_path):
    start = tmp_path / "start.pt"
    net = build_model("student", SMALL_STUDENT | {"input_size": [96, 64]})
    save_checkpoint(start, net, "student", net.config_dict, {})
    seen = {}
    original = SupervisedRecipe.step

    def spy(self, batch):
        seen.setdefault("weights", {k: v.clone() for k, v in self.model.state_dict().items()})
        return original(self, batch)

    cfg = make_cfg(tiny_sim_root, tmp_path / "ft", steps=2, init_checkpoint=str(start),
                   student={})
    SupervisedRecipe.step = spy
    try:
        res = Trainer(cfg).run()
    finally:
        SupervisedRecipe.step = original
    ref = net.state_dict()
    assert all(torch.equal(seen["weights"][k], ref[k]) for k in ref)
    tuned = weights(res["final"])
    assert any(not torch.equal(tuned[k], ref[k]) for k in ref)  # and it trained
    _, meta = load_checkpoint(res["final"])
    assert meta["config"]["widths"] == SMALL_STUDENT["widths"]


def test_fine_tuning_refuses_mismatches(tiny_sim_root, tmp_path):
    start = tmp_path / "start.pt"
    net = build_model("student", SMALL_STUDENT | {"input_size": [96, 64]})
    save_checkpoint(start, net, "student", net.config_dict, {})
    with pytest.raises(TrainingError, match="image_size"):
        Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=1, image_size=(64, 48),
                         init_checkpoint=str(start), student={})).run()
    with pytest.raises(TrainingError, match="student overrides"):
        Trainer(make_cfg(tiny_sim_root, tmp_path / "b", steps=1,
                         init_checkpoint=str(start))).run()
    teacher = build_model("teacher_sim", {"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                                          "decoder_widths": [32, 24, 16, 16]})
    save_checkpoint(tmp_path / "teacher.pt", teacher, "teacher_sim", teacher.config_dict, {})
    with pytest.raises(CheckpointError, match="expected 'student'"):
        Trainer(make_cfg(tiny_sim_root, tmp_path / "c", steps=1, student={},
                         init_checkpoint=str(tmp_path / "teacher.pt"))).run()


def test_failed_first_steps_do_not_claim_a_checkpoint(tiny_sim_root, tmp_path, monkeypatch):
    original = SupervisedRecipe.step

    def poisoned(self, batch):
        terms = original(self, batch)
        terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(SupervisedRecipe, "step", poisoned)
    with pytest.raises(TrainingError, match="no checkpoint had been written yet") as info:
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=3)).run()
    assert "last.pt" not in str(info.value)
    assert not (tmp_path / "checkpoints" / "last.pt").exists()


def test_negative_worker_count_is_refused(tiny_sim_root, tmp_path):
    with pytest.raises(TrainingError, match="num_workers must be >= 0"):
        make_cfg(tiny_sim_root, tmp_path, num_workers=-1).validate()


def test_bf16_autocast_trains_on_cpu_when_asked(tiny_sim_root, tmp_path):
    fp32 = Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=2))
    bf16 = Trainer(make_cfg(tiny_sim_root, tmp_path / "b", steps=2, amp="bf16"))
    assert not fp32.amp and bf16.amp  # auto = off on CPU
    a, b = fp32.run(), bf16.run()
    assert all(np.isfinite(v) for v in b["losses"].values())
    assert a["losses"]["gt"] != b["losses"]["gt"]  # bf16 arithmetic really ran
    assert a["losses"]["gt"] == pytest.approx(b["losses"]["gt"], rel=0.05)


def test_cuda_device_is_refused_where_there_is_none(tiny_sim_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TrainingError, match="no CUDA device"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, device="cuda"))
    assert Trainer(make_cfg(tiny_sim_root, tmp_path, device="auto")).device.type == "cpu"
    with pytest.raises(TrainingError, match="amp must be"):
        make_cfg(tiny_sim_root, tmp_path, amp="fp8").validate()
