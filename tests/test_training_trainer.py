"""Trainer behaviour on the tiny simulator dataset: runs, checkpoints, resume, cancel, NaN guard,
incompatible checkpoints, recipes (supervised / kd / teacher), JSON-lines progress."""
from __future__ import annotations

import json
import threading

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError, TrainingError
from fsmde_gui.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from fsmde_gui.training.config import TrainConfig, load_config
from fsmde_gui.training.recipes import SupervisedRecipe, get_recipe, recipe_names
from fsmde_gui.training.trainer import Trainer

SMALL_STUDENT = {"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                 "decoder_widths": [32, 24, 16, 16], "bin_hidden": 32, "num_bins": 16}
SMALL_TEACHER = {"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                 "decoder_widths": [32, 24, 16, 16]}


def make_cfg(root, out, **kw) -> TrainConfig:
    base = dict(recipe="supervised", dataset=str(root), out=str(out), image_size=(96, 64),
                steps=6, lr=2e-3, warmup_steps=1, checkpoint_every=0, log_every=1, seed=3,
                num_threads=1, student=dict(SMALL_STUDENT), teacher=dict(SMALL_TEACHER))
    base.update(kw)
    return TrainConfig(**base)


def weights(path):
    model, _ = load_checkpoint(path)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_supervised_runs_decreases_loss_and_writes_files(tiny_sim_root, tmp_path):
    events = []
    res = Trainer(make_cfg(tiny_sim_root, tmp_path, steps=12, lr=3e-3)).run(progress=events.append)
    assert res["event"] == "done" and res["step"] == 12
    assert (tmp_path / "final.pt").is_file() and (tmp_path / "checkpoints" / "last.pt").is_file()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    model, meta = load_checkpoint(tmp_path / "final.pt", expected_arch="student")
    assert meta["recipe"] == "supervised" and meta["steps"] == 12
    steps = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in steps] == list(range(1, 13))
    assert {"step", "total", "losses", "eta_s", "lr", "checkpoint"} <= set(steps[0])
    first = sum(e["losses"]["total"] for e in steps[:3]) / 3
    last = sum(e["losses"]["total"] for e in steps[-3:]) / 3
    assert last < first
    out = model(torch.rand(1, 6, 3, 64, 96))
    assert out["depth"].shape == (1, 6, 1, 64, 96)


def test_resume_after_cancel_matches_uninterrupted(tiny_sim_root, tmp_path):
    ref = Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=6)).run()
    assert ref["event"] == "done"

    cancel = threading.Event()

    def stop_at_3(ev):
        if ev.get("step") == 3:
            cancel.set()

    cfg = make_cfg(tiny_sim_root, tmp_path / "b", steps=6)
    part = Trainer(cfg).run(progress=stop_at_3, cancel=cancel)
    assert part["event"] == "cancelled" and part["step"] == 3
    assert not (tmp_path / "b" / "final.pt").exists()
    state = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3

    events = []
    done = Trainer(cfg, resume=True).run(progress=events.append)
    assert done["event"] == "done" and done["step"] == 6
    assert [e["step"] for e in events if e["event"] == "progress"] == [4, 5, 6]
    wa, wb = weights(tmp_path / "a" / "final.pt"), weights(tmp_path / "b" / "final.pt")
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6), k


def test_cancel_from_another_thread_saves_checkpoint(tiny_sim_root, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(ev):
        seen.append(ev)
        if ev.get("step") == 2:
            threading.Timer(0.05, cancel.set).start()

    res = Trainer(make_cfg(tiny_sim_root, tmp_path, steps=500)).run(progress=progress, cancel=cancel)
    assert res["event"] == "cancelled" and 2 <= res["step"] < 500
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == res["step"]


def test_cancel_while_a_batch_loads_skips_its_step(tiny_sim_root, tmp_path, monkeypatch):
    """Cancel asked while the next batch loads (slow real frames) stops before that step:
    no step is computed after the request, and the checkpoint holds the steps done."""
    cancel = threading.Event()
    steps_run = []
    original_prepare, original_step = Trainer._prepare, Trainer._train_step

    def prepare(self, batch, step, info):
        if step == 2:
            cancel.set()  # arrives during the load of the batch of step 2
        return original_prepare(self, batch, step, info)

    def train_step(self, recipe, optimizer, scheduler, batch, step, info):
        steps_run.append(step)
        return original_step(self, recipe, optimizer, scheduler, batch, step, info)

    monkeypatch.setattr(Trainer, "_prepare", prepare)
    monkeypatch.setattr(Trainer, "_train_step", train_step)
    res = Trainer(make_cfg(tiny_sim_root, tmp_path, steps=6)).run(cancel=cancel)
    assert res["event"] == "cancelled" and res["step"] == 2 and steps_run == [0, 1]
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 2


def test_nan_guard_keeps_last_good_checkpoint(tiny_sim_root, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = SupervisedRecipe.step

    def poisoned(self, batch):
        calls["n"] += 1
        terms = original(self, batch)
        if calls["n"] == 3:
            terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(SupervisedRecipe, "step", poisoned)
    snapshot = {}

    def progress(ev):
        if ev.get("event") == "checkpoint":
            snapshot["bytes"] = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    with pytest.raises(TrainingError, match="non-finite loss at step 3"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=6, checkpoint_every=2)).run(progress=progress)
    assert snapshot, "a checkpoint at step 2 should have been written"
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == snapshot["bytes"]
    assert not (tmp_path / "final.pt").exists()


def test_incompatible_checkpoints_raise_clear_errors(tiny_sim_root, tmp_path):
    Trainer(make_cfg(tiny_sim_root, tmp_path, steps=2)).run()
    other = dict(SMALL_STUDENT, num_bins=8)
    with pytest.raises(CheckpointError, match="architecture differs"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=4, student=other), resume=True).run()
    with pytest.raises(CheckpointError, match="recipe 'supervised'"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=4, recipe="teacher"), resume=True).run()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt"):
        Trainer(make_cfg(tiny_sim_root, tmp_path, steps=4), resume=True).run()


def test_kd_recipe_terms_and_ablation_switches(tiny_sim_root, tmp_path):
    teacher = build_model("teacher_sim", dict(SMALL_TEACHER, input_size=[96, 64]))
    tpath = save_checkpoint(tmp_path / "teacher.pt", teacher, meta={})
    cfg = make_cfg(tiny_sim_root, tmp_path / "kd", recipe="kd", steps=3,
                   teacher_checkpoint=str(tpath))
    res = Trainer(cfg).run()
    assert set(res["losses"]) == {"gt", "ckd_kl", "ckd_cross", "vrkd", "bin_chamfer", "total"}
    assert all(v == v and v >= 0 for v in res["losses"].values())
    expected = (res["losses"]["gt"] + res["losses"]["ckd_kl"] + 0.5 * res["losses"]["ckd_cross"]
                + res["losses"]["vrkd"] + 0.1 * res["losses"]["bin_chamfer"])
    assert res["losses"]["total"] == pytest.approx(expected, rel=1e-5)
    cfg = make_cfg(tiny_sim_root, tmp_path / "kd0", recipe="kd", steps=2, ckd_weight=0,
                   ckd_cross_weight=0, teacher_checkpoint=str(tpath))
    assert set(Trainer(cfg).run()["losses"]) == {"gt", "vrkd", "bin_chamfer", "total"}
    cfg = make_cfg(tiny_sim_root, tmp_path / "kd1", recipe="kd", steps=2, vrkd_weight=0,
                   teacher_checkpoint=str(tpath))
    assert set(Trainer(cfg).run()["losses"]) == {"gt", "ckd_kl", "ckd_cross", "bin_chamfer",
                                                  "total"}
    # the first release's (aligned) CKD: its two alignments give different targets (same
    # seed, same first batch)
    kl = {}
    for align in ("student", "gt"):
        cfg = make_cfg(tiny_sim_root, tmp_path / f"kd_{align}", recipe="kd", steps=1,
                       vrkd_weight=0, ckd_mode="aligned", ckd_align=align,
                       teacher_checkpoint=str(tpath))
        kl[align] = Trainer(cfg).run()["losses"]["ckd_kl"]
    assert kl["student"] != pytest.approx(kl["gt"], rel=1e-3)
    # P1's ordinal CKD (the default) has no alignment: ckd_align changes nothing, the
    # normalisation and the mode do
    for name, kw in (("ord_gt", {"ckd_align": "gt"}), ("ord_student", {"ckd_align": "student"}),
                     ("ord_log", {"ckd_norm": "log"})):
        cfg = make_cfg(tiny_sim_root, tmp_path / f"kd_{name}", recipe="kd", steps=1,
                       vrkd_weight=0, teacher_checkpoint=str(tpath), **kw)
        assert cfg.ckd_mode == "ordinal"
        kl[name] = Trainer(cfg).run()["losses"]["ckd_kl"]
    assert kl["ord_student"] == pytest.approx(kl["ord_gt"], rel=1e-6)
    assert kl["ord_log"] != pytest.approx(kl["ord_gt"], rel=1e-3)
    assert kl["ord_gt"] != pytest.approx(kl["gt"], rel=1e-3)
    with pytest.raises(TrainingError, match="ckd_align"):
        TrainConfig.from_dict(TrainConfig().to_dict() | {"ckd_align": "lidar"})
    # diagnostic: distil the GT-aligned teacher depth itself (SILog), no CKD / VRKD
    cfg = make_cfg(tiny_sim_root, tmp_path / "kd_dense", recipe="kd", steps=1, ckd_weight=0,
                   ckd_cross_weight=0, vrkd_weight=0, teacher_checkpoint=str(tpath),
                   extra={"dense_kd_weight": 1.0})
    assert set(Trainer(cfg).run()["losses"]) == {"gt", "dense_kd", "bin_chamfer", "total"}
    with pytest.raises(TrainingError, match="unknown extra option"):
        Trainer(make_cfg(tiny_sim_root, tmp_path / "kd_typo", recipe="kd", steps=1,
                         teacher_checkpoint=str(tpath), extra={"ckd_skip_gts": True})).run()
    # a metric student is not a relative teacher
    with pytest.raises(TrainingError, match="disparity"):
        Trainer(make_cfg(tiny_sim_root, tmp_path / "kd2", recipe="kd", steps=1,
                         teacher_checkpoint=str(tmp_path / "kd" / "final.pt"))).run()


def test_supervised_recipe_adds_the_bin_chamfer_term(tiny_sim_root, tmp_path):
    res = Trainer(make_cfg(tiny_sim_root, tmp_path / "a", steps=2)).run()
    losses = res["losses"]
    assert set(losses) == {"gt", "bin_chamfer", "total"}
    assert losses["bin_chamfer"] > 0
    assert losses["total"] == pytest.approx(losses["gt"] + 0.1 * losses["bin_chamfer"], rel=1e-5)
    res = Trainer(make_cfg(tiny_sim_root, tmp_path / "b", steps=2, bin_chamfer_weight=0.0)).run()
    assert set(res["losses"]) == {"gt", "total"}
    assert res["losses"]["total"] == pytest.approx(res["losses"]["gt"], rel=1e-6)


def test_ckd_mode_and_norm_are_validated():
    cfg = TrainConfig()
    assert (cfg.ckd_mode, cfg.ckd_norm, cfg.bin_chamfer_weight) == ("ordinal", "quantile", 0.1)
    base = TrainConfig().to_dict()
    for mode in ("ordinal", "aligned"):
        assert TrainConfig.from_dict(base | {"ckd_mode": mode}).ckd_mode == mode
    for norm in ("quantile", "log"):
        assert TrainConfig.from_dict(base | {"ckd_norm": norm}).ckd_norm == norm
    with pytest.raises(TrainingError, match=r"ckd_mode must be ordinal\|aligned"):
        TrainConfig.from_dict(base | {"ckd_mode": "metric"})
    with pytest.raises(TrainingError, match=r"ckd_norm must be quantile\|log"):
        TrainConfig.from_dict(base | {"ckd_norm": "rank"})
    with pytest.raises(TrainingError, match="ckd_mode"):
        load_config(None, ["ckd_mode=softmax"])


def test_teacher_recipe_on_dense_gt(tiny_sim_root, tmp_path):
    res = Trainer(make_cfg(tiny_sim_root, tmp_path, recipe="teacher", steps=3)).run()
    assert set(res["losses"]) == {"ssi", "grad", "total"}
    model, meta = load_checkpoint(tmp_path / "final.pt", expected_arch="teacher_sim")
    assert model.output_kind == "disparity" and meta["recipe"] == "teacher"


def test_teacher_fine_tune_on_sparse_lidar_from_a_checkpoint(tiny_sim_root, keyframe_root,
                                                            tmp_path):
    """``extra.sparse_gt``: the teacher on the LiDAR pixels only (SSI, no gradient term), from
    ``init_checkpoint``; real LiDAR without it is refused with the option named."""
    teacher = build_model("teacher_sim", dict(SMALL_TEACHER, input_size=[96, 64]))
    start = save_checkpoint(tmp_path / "teacher.pt", teacher, meta={})
    before = weights(start)
    cfg = make_cfg(tiny_sim_root, tmp_path / "ft", recipe="teacher", steps=3, teacher={},
                   init_checkpoint=str(start), extra={"sparse_gt": True})
    recipe = get_recipe("teacher")(cfg, torch.device("cpu"))
    assert all(torch.equal(v, before[k]) for k, v in recipe.model.state_dict().items())
    res = Trainer(cfg).run()
    assert set(res["losses"]) == {"ssi", "total"} and res["losses"]["ssi"] > 0
    after = weights(tmp_path / "ft" / "final.pt")
    assert set(after) == set(before) and any(not torch.equal(after[k], before[k]) for k in after)
    with pytest.raises(TrainingError, match="extra.sparse_gt=true"):  # real data, no dense GT
        Trainer(make_cfg(keyframe_root, tmp_path / "real", recipe="teacher", steps=1)).run()
    with pytest.raises(TrainingError, match="input_size=\\[96, 64\\].*image_size"):
        get_recipe("teacher")(make_cfg(tiny_sim_root, tmp_path / "x", recipe="teacher",
                                       teacher={}, image_size=(128, 96),
                                       init_checkpoint=str(start)), torch.device("cpu"))
    with pytest.raises(TrainingError, match="drop the teacher overrides"):
        get_recipe("teacher")(make_cfg(tiny_sim_root, tmp_path / "x", recipe="teacher",
                                       init_checkpoint=str(start)), torch.device("cpu"))
    with pytest.raises(TrainingError, match="unknown extra option"):
        get_recipe("teacher")(make_cfg(tiny_sim_root, tmp_path / "x", recipe="teacher",
                                       extra={"sparse": True}), torch.device("cpu"))


def test_config_overrides_and_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("recipe: kd\nsteps: 7\nstudent:\n  num_bins: 8\n")
    cfg = load_config(f, ["lr=0.01", "student.bin_hidden=16", "image_size=[128,64]"])
    assert (cfg.recipe, cfg.steps, cfg.lr, cfg.image_size) == ("kd", 7, 0.01, (128, 64))
    assert cfg.student == {"num_bins": 8, "bin_hidden": 16}
    with pytest.raises(TrainingError, match="unknown training option"):
        load_config(None, ["stepz=3"])
    with pytest.raises(TrainingError, match="multiples of 16"):
        load_config(None, ["image_size=[100,64]"])
    with pytest.raises(TrainingError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    assert {"supervised", "kd", "teacher"} <= set(recipe_names())
    with pytest.raises(TrainingError, match="unknown recipe"):
        get_recipe("nope")


def test_cli_train_jsonl_progress(tiny_sim_root, tmp_path, capsys):
    from fsmde_gui.cli import main

    rc = main(["train", "--recipe", "supervised", "--dataset", str(tiny_sim_root),
               "--out", str(tmp_path), "--steps", "2", "--progress", "jsonl",
               "--set", "image_size=[96,64]", "--set", "num_threads=1",
               "--set", f"student={json.dumps(SMALL_STUDENT)}"])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert lines[-1]["event"] == "done" and lines[-1]["step"] == 2
    assert lines[0]["event"] == "progress" and "total" in lines[0]["losses"]
    rc = main(["train", "--dataset", str(tiny_sim_root), "--set", "bogus=1"])
    assert rc == 2


def test_kd_teacher_cache_dir_is_shared_and_gives_the_same_run(tiny_sim_root, tmp_path):
    """extra.teacher_cache_dir: the first run writes one file per sample, a second run reads
    them instead of running the teacher, and both runs end with the same losses."""
    teacher = build_model("teacher_sim", dict(SMALL_TEACHER, input_size=[96, 64]))
    tpath = save_checkpoint(tmp_path / "teacher.pt", teacher, meta={})
    cache = tmp_path / "cache"
    runs = []
    for name in ("a", "b"):
        cfg = make_cfg(tiny_sim_root, tmp_path / name, recipe="kd", steps=4,
                       teacher_checkpoint=str(tpath), extra={"teacher_cache_dir": str(cache)})
        runs.append(Trainer(cfg).run()["losses"])
    assert sorted(p.name for p in cache.iterdir()) == ["0.pt", "1.pt", "2.pt"]
    assert runs[0] == pytest.approx(runs[1], rel=0, abs=0)
    for f in cache.iterdir():  # tampered features: a run that reads the cache must differ
        rel, feat = torch.load(f, weights_only=True)
        torch.save([rel, torch.randn_like(feat)], f)
    cfg = make_cfg(tiny_sim_root, tmp_path / "c", recipe="kd", steps=4,
                   teacher_checkpoint=str(tpath), extra={"teacher_cache_dir": str(cache)})
    assert Trainer(cfg).run()["losses"]["vrkd"] != pytest.approx(runs[0]["vrkd"], rel=1e-3)
