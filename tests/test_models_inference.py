"""DepthEstimator: frame -> DepthResult for students, teachers (alignment), names, DA-V2."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fsmde_gui.core.errors import CheckpointError, FsmdeError
from fsmde_gui.core.rig import load_rig
from fsmde_gui.core.types import CAMERA_NAMES, CameraView, DepthResult, SurroundFrame
from fsmde_gui.models.checkpoint import save_checkpoint
from fsmde_gui.models.inference import DepthEstimator, apply_thread_setting, images_to_tensor
from fsmde_gui.models.registry import UnknownModelError, list_models, model_path
from fsmde_gui.models.student import StudentConfig, StudentNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet

H, W = 90, 160
STUDENT = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                        decoder_widths=(32, 16, 16, 16), num_bins=16, bin_hidden=16,
                        input_size=(96, 64), min_depth=0.5, max_depth=80.0)
TEACHER = TeacherConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                        decoder_widths=(16, 16, 8, 8), input_size=(96, 64))


def make_frame(seed=0, gt=True) -> SurroundFrame:
    rng = np.random.default_rng(seed)
    rig = load_rig(width=W, height=H)
    views = []
    for i, name in enumerate(CAMERA_NAMES):
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        sparse = None
        if gt:
            sparse = np.zeros((H, W), np.float32)
            mask = rng.random((H, W)) < 0.05
            sparse[mask] = rng.uniform(2, 50, mask.sum()).astype(np.float32)
        views.append(CameraView(name, img, rig.cameras[i].K, rig.cameras[i].cam_to_ego,
                                depth_sparse=sparse))
    return SurroundFrame(views, np.eye(4), scene_name="synthetic", frame_index=seed)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_checkpoint(folder / "student_kd.pt", StudentNet(STUDENT).eval())
    save_checkpoint(folder / "teacher_sim.pt", TeacherSimNet(TEACHER).eval())
    return folder


def test_student_result(ckpts):
    est = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu")
    assert est.input_size == (96, 64) and not est.is_teacher
    frame = make_frame()
    res = est.predict(frame)
    assert isinstance(res, DepthResult) and res.model_name == "student_kd"
    assert res.depth.shape == (6, H, W) and res.depth.dtype == np.float32
    assert res.depth.min() >= 0.5 and res.depth.max() <= 80.0
    assert res.bin_centers.shape == (6, 16) and (np.diff(res.bin_centers, axis=1) > 0).all()
    assert res.bin_probs.shape == (6, 16, 32, 48)
    np.testing.assert_allclose(res.bin_probs.sum(1), 1.0, atol=1e-5)
    assert res.relative_depth is None and res.alignment is None
    assert {"preprocess", "inference", "postprocess", "total"} <= set(res.timings_ms)
    assert res.timings_ms["total"] >= res.timings_ms["inference"] > 0
    # same numbers as running the net by hand: INTER_AREA resize, forward, bilinear back
    x = images_to_tensor([v.image for v in frame.views], (96, 64))
    with torch.inference_mode():
        manual = F.interpolate(est.model(x)["depth"][0], size=(H, W), mode="bilinear",
                               align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(res.depth, manual, rtol=1e-5, atol=1e-5)


def test_teacher_aligned_to_sparse_gt(ckpts):
    est = DepthEstimator.from_checkpoint(ckpts / "teacher_sim.pt", device="cpu")
    assert est.is_teacher and est.output_kind == "disparity"
    frame = make_frame(gt=False)
    raw = est.predict(frame, reference=np.full((6, H, W), 10.0, np.float32))
    # GT that is exactly an affine map of the teacher's disparity: 1/d = 2 r + 0.01
    rng = np.random.default_rng(3)
    for v, view in enumerate(frame.views):
        d = 1.0 / (2.0 * raw.relative_depth[v] + 0.01)
        mask = rng.random((H, W)) < 0.05
        view.depth_sparse = np.where(mask, d, 0).astype(np.float32)
    res = est.predict(frame)
    assert res.relative_depth.shape == (6, H, W) and (res.relative_depth > 0).all()
    assert len(res.alignment) == 6 and est.last_alignment_sources == ["gt"] * 6
    for s, t in res.alignment:
        assert s == pytest.approx(2.0, rel=1e-3) and t == pytest.approx(0.01, abs=1e-4)
    expect = np.clip(1.0 / (2.0 * res.relative_depth + 0.01), 0.5, 80.0)
    np.testing.assert_allclose(res.depth, expect, rtol=1e-3)


def test_teacher_without_gt_needs_reference(ckpts):
    teacher = DepthEstimator.from_checkpoint(ckpts / "teacher_sim.pt", device="cpu")
    frame = make_frame(gt=False)
    with pytest.raises(FsmdeError, match="cannot make the teacher's relative depth metric"):
        teacher.predict(frame)
    student = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu")
    teacher.reference_estimator = student
    res = teacher.predict(frame)
    assert teacher.last_alignment_sources == ["reference-median"] * 6
    # median-scaled: the median of the aligned disparity equals the student's
    ref = student.predict(frame).depth
    for v in range(6):
        assert np.median(1 / res.depth[v]) == pytest.approx(np.median(1 / ref[v]), rel=1e-2)


def test_predict_batch_equals_single(ckpts):
    est = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu")
    frames = [make_frame(1), make_frame(2)]
    batch = est.predict_batch(frames)
    for f, r in zip(frames, batch):
        np.testing.assert_allclose(r.depth, est.predict(f).depth, rtol=1e-4, atol=1e-4)


def test_from_name_and_registry(ckpts, monkeypatch, tmp_path):
    monkeypatch.setenv("FSMDE_MODELS_DIR", str(ckpts))
    assert model_path("student_kd") == ckpts / "student_kd.pt"
    est = DepthEstimator.from_name("student_kd", device="cpu")
    assert est.name == "student_kd" and est.predict(make_frame()).depth.shape == (6, H, W)
    rows = {r["name"]: r for r in list_models()}
    assert rows["student_kd"]["exists"] and not rows["student_supervised"]["exists"]
    with pytest.raises(CheckpointError, match="student_supervised.pt"):
        DepthEstimator.from_name("student_supervised")
    with pytest.raises(UnknownModelError):
        model_path("../escape")
    with pytest.raises(CheckpointError, match="folder not found"):
        DepthEstimator.from_name(f"dav2:{tmp_path / 'none'}")


def test_dav2_through_estimator(tmp_path):
    transformers = pytest.importorskip("transformers")
    backbone = transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        patch_size=14, image_size=56, out_features=["stage1"], reshape_hidden_states=False)
    cfg = transformers.DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[16], reassemble_factors=[1],
        fusion_hidden_size=16, head_hidden_size=8, reassemble_hidden_size=32)
    model = transformers.DepthAnythingForDepthEstimation(cfg)
    with torch.no_grad():
        model.head.conv3.bias.fill_(0.5)
    model.save_pretrained(tmp_path / "da")
    est = DepthEstimator.from_name(f"dav2:{tmp_path / 'da'}", device="cpu")
    est.model.short_side = 56
    assert est.is_teacher and est.input_size is None
    res = est.predict(make_frame())
    assert res.depth.shape == res.relative_depth.shape == (6, H, W)
    assert (res.relative_depth > 0).all() and len(res.alignment) == 6
    assert res.depth.min() >= 0.5 and res.depth.max() <= 80.0


def test_thread_setting(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("FSMDE_NUM_THREADS", "1")
    assert apply_thread_setting() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("FSMDE_NUM_THREADS", "many")
    with pytest.raises(FsmdeError, match="FSMDE_NUM_THREADS"):
        apply_thread_setting()
    torch.set_num_threads(before)


@pytest.mark.slow
def test_real_keyframe_student_and_teacher(keyframe_root, ckpts):
    """The real nuScenes keyframe (1600x900, real LiDAR GT): resize in/out, per-view alignment."""
    from fsmde_gui.data.detect import open_dataset

    frame = open_dataset(keyframe_root).frame(0, 0)
    hw = frame.views[0].hw
    student = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu")
    res = student.predict(frame)
    assert res.depth.shape == (6, *hw) and np.isfinite(res.depth).all()
    teacher = DepthEstimator.from_checkpoint(ckpts / "teacher_sim.pt", device="cpu")
    res = teacher.predict(frame)
    # a random teacher may anti-correlate with the LiDAR in a view: then the fit's scale is
    # negative and that view falls back to median scaling against the same GT
    sources = teacher.last_alignment_sources
    assert set(sources) <= {"gt", "gt-median"} and "gt" in sources
    assert res.depth.shape == res.relative_depth.shape == (6, *hw)
    assert res.depth.min() >= 0.5 and res.depth.max() <= 80.0
    for v, view in enumerate(frame.views):
        gt = view.depth_sparse
        m = gt > 0
        assert m.sum() > 1000  # real LiDAR points in every camera
        inv = 1 / res.depth[v][m]
        if sources[v] == "gt":  # least squares beats the best constant in inverse depth
            assert np.mean((inv - 1 / gt[m]) ** 2) <= np.var(1 / gt[m]) * 1.001
        else:  # median scaling: medians of inverse depth agree
            assert np.median(inv) == pytest.approx(np.median(1 / gt[m]), rel=0.05)


def test_bad_frames_are_clear_errors(ckpts):
    from fsmde_gui.models.inference import InferenceError

    est = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu")
    frame = make_frame()
    frame.views[2].image = frame.views[2].image[:50]
    frame.views[2].image_path = "samples/CAM_FRONT_RIGHT/x.jpg"
    with pytest.raises(InferenceError, match=r"CAM_FRONT_RIGHT \(samples/CAM_FRONT_RIGHT/x.jpg\)"):
        est.predict(frame)
    frame = make_frame()
    frame.views[0].image = frame.views[0].image[..., 0]
    with pytest.raises(InferenceError, match="RGB image"):
        est.predict(frame)
    teacher = DepthEstimator.from_checkpoint(ckpts / "teacher_sim.pt", device="cpu")
    frame = make_frame()
    frame.views[4].depth_sparse = np.zeros((10, 10), np.float32)
    with pytest.raises(InferenceError, match="CAM_BACK: GT depth"):
        teacher.predict(frame)
    with pytest.raises(InferenceError, match="reference depth"):
        teacher.predict(make_frame(gt=False), reference=np.ones((6, 10, 10), np.float32))


def test_bf16_autocast_path(ckpts):
    """The CUDA path runs under bf16 autocast; check the same code on the CPU for dtype bugs."""
    student = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu",
                                             autocast=True)
    teacher = DepthEstimator.from_checkpoint(ckpts / "teacher_sim.pt", device="cpu",
                                             autocast=True)
    frame = make_frame()
    ref32 = DepthEstimator.from_checkpoint(ckpts / "student_kd.pt", device="cpu").predict(frame)
    res = student.predict(frame)
    assert res.depth.dtype == np.float32 and res.bin_probs.dtype == np.float32
    np.testing.assert_allclose(res.bin_probs.sum(1), 1.0, atol=1e-4)
    assert np.median(np.abs(res.depth - ref32.depth) / ref32.depth) < 0.05
    t = teacher.predict(frame)
    assert t.depth.dtype == np.float32 and np.isfinite(t.depth).all()
