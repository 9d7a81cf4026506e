"""DDAD / DGP: write the real keyframe with the DGP writer, read it back with the DDAD adapter."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fsmde_gui.app_model.session import Session
from fsmde_gui.core.errors import DatasetError
from fsmde_gui.data.ddad_adapter import DDADDataset
from fsmde_gui.data.detect import detect_format, open_dataset
from fsmde_gui.data.dgp_format import (match_cameras_by_yaw, pose_from_json, pose_to_json,
                                       timestamp_from_json, timestamp_to_json)
from fsmde_gui.data.dgp_writer import write_dgp
from _data_helpers import dgp_with_empty_first_scene

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source(keyframe_root):
    return open_dataset(keyframe_root)


@pytest.fixture(scope="module")
def dgp_root(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("dgp") / "keyframe_dgp"
    summary = write_dgp(source, out)
    assert summary == {"format": "dgp", "scenes": 1, "frames": 1, "images": 6,
                       "point_clouds": 1, "out": str(out)}
    return out


def _scene_file(root: Path) -> Path:
    return next(root.glob("*/scene_*.json"))


def test_layout(dgp_root):
    meta = json.loads((dgp_root / "scene_dataset_v1.0.json").read_text())
    files = meta["scene_splits"]["0"]["filenames"]
    assert len(files) == 1 and (dgp_root / files[0]).is_file()
    scene = json.loads((dgp_root / files[0]).read_text())
    assert len(scene["samples"]) == 1 and len(scene["data"]) == 7
    names = sorted(d["id"]["name"] for d in scene["data"])
    assert names == ["CAMERA_01", "CAMERA_05", "CAMERA_06", "CAMERA_07", "CAMERA_08",
                     "CAMERA_09", "LIDAR"]
    cal = json.loads((dgp_root / "000000" / "calibration" /
                      f"{scene['samples'][0]['calibration_key']}.json").read_text())
    assert set(cal) == {"names", "intrinsics", "extrinsics"} and len(cal["names"]) == 7
    assert set(cal["extrinsics"][0]["rotation"]) == {"qw", "qx", "qy", "qz"}
    with np.load(next((dgp_root / "000000" / "point_cloud" / "LIDAR").glob("*.npz"))) as z:
        assert z["data"].shape == (34688, 3)


def test_round_trip(source, dgp_root):
    assert detect_format(dgp_root) == "ddad"
    ds = open_dataset(dgp_root)
    assert isinstance(ds, DDADDataset) and len(ds) == 1
    a, b = source.frame(0, 0), ds.frame(0, 0)
    assert b.source == "ddad" and b.timestamp == a.timestamp
    np.testing.assert_array_equal(a.lidar_points_ego, b.lidar_points_ego)
    np.testing.assert_allclose(b.ego_to_world, a.ego_to_world, atol=1e-9)
    for va, vb in zip(a.views, b.views):
        assert va.name == vb.name
        np.testing.assert_array_equal(va.image, vb.image)  # lossless PNG
        np.testing.assert_allclose(vb.K, va.K, rtol=0, atol=1e-12)
        np.testing.assert_allclose(vb.cam_to_ego, va.cam_to_ego, atol=1e-9)
        np.testing.assert_allclose(vb.ego_to_world, va.ego_to_world, atol=1e-8)
        assert vb.timestamp == va.timestamp
        # sparse depth: same projection chain up to float32 rounding of the devkit's steps
        na, nb = int((va.depth_sparse > 0).sum()), int((vb.depth_sparse > 0).sum())
        assert abs(na - nb) <= 0.01 * na
        same = (va.depth_sparse > 0) & (vb.depth_sparse > 0)
        assert same.sum() > 0.98 * na
        close = np.isclose(va.depth_sparse[same], vb.depth_sparse[same], atol=1e-3)
        assert close.mean() > 0.98
    info = ds.describe()
    assert info["format"] == "ddad" and info["num_files_checked"] == 7
    assert info["camera_mapping"]["CAM_FRONT"] == "CAMERA_01"


def test_cameras_matched_by_yaw_not_name(source, dgp_root, tmp_path):
    """Swap the names CAMERA_05 <-> CAMERA_06 everywhere: the front-left view stays front-left."""
    import shutil

    root = tmp_path / "swapped"
    shutil.copytree(dgp_root, root)
    swap = {"CAMERA_05": "CAMERA_06", "CAMERA_06": "CAMERA_05"}

    def rename_datums(doc):
        for d in doc["data"]:
            d["id"]["name"] = swap.get(d["id"]["name"], d["id"]["name"])

    _edit_json(_scene_file(root), rename_datums)
    _edit_json(_cal_file(root), lambda d: d.update(names=[swap.get(n, n) for n in d["names"]]))
    ds = open_dataset(root)
    assert ds.describe()["camera_mapping"]["CAM_FRONT_LEFT"] == "CAMERA_06"
    np.testing.assert_array_equal(ds.frame(0, 0).view("CAM_FRONT_LEFT").image,
                                  source.frame(0, 0, load_gt=False).view("CAM_FRONT_LEFT").image)


def test_yaw_matching_synthetic():
    def cam(yaw_deg):
        y = math.radians(yaw_deg)
        fwd = np.array([math.cos(y), math.sin(y), 0.0])
        right = np.array([math.sin(y), -math.cos(y), 0.0])
        T = np.eye(4)
        T[:3, :3] = np.stack([right, [0, 0, -1.0], fwd], axis=1)
        return T
    yaws = {"CAMERA_01": 2, "CAMERA_05": 61, "CAMERA_06": -58, "CAMERA_07": 121,
            "CAMERA_08": -119, "CAMERA_09": 179}
    m = match_cameras_by_yaw("x", {k: cam(v) for k, v in yaws.items()})
    assert m == {"CAM_FRONT": "CAMERA_01", "CAM_FRONT_LEFT": "CAMERA_05",
                 "CAM_FRONT_RIGHT": "CAMERA_06", "CAM_BACK_LEFT": "CAMERA_07",
                 "CAM_BACK_RIGHT": "CAMERA_08", "CAM_BACK": "CAMERA_09"}
    with pytest.raises(DatasetError, match="need 6 cameras"):
        match_cameras_by_yaw("x", {"CAMERA_01": cam(0)})


def test_pose_and_timestamp_json():
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = [1.5, -2.0, 0.25]
    np.testing.assert_allclose(pose_from_json("f", pose_to_json(T), "w"), T, atol=1e-12)
    us = 1532402927647951
    assert timestamp_to_json(us) == "2018-07-24T03:28:47.647951Z"
    assert timestamp_from_json("f", timestamp_to_json(us), "w") == us
    assert timestamp_from_json("f", "2018-07-24T03:28:47.647951123Z", "w") == us
    with pytest.raises(DatasetError, match="RFC 3339"):
        timestamp_from_json("f", "yesterday", "w")
    with pytest.raises(DatasetError, match="quaternion is zero"):
        pose_from_json("f", {"translation": {"x": 0}, "rotation": {"qw": 0}}, "w")


def _edit_json(path: Path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _cal_file(root):
    return next(root.glob("*/calibration/*.json"))


def _d_missing_calibration(root):
    p = _cal_file(root)
    p.unlink()
    return p.name, "missing"


def _d_nan_fx(root):
    _edit_json(_cal_file(root), lambda d: d["intrinsics"][0].update(fx=math.nan))
    return "calibration", "finite number"


def _d_zero_quaternion(root):
    _edit_json(_cal_file(root), lambda d: d["extrinsics"][2].update(
        rotation={"qw": 0, "qx": 0, "qy": 0, "qz": 0}))
    return "calibration", "quaternion is zero"


def _d_truncated_scene(root):
    p = _scene_file(root)
    p.write_text(p.read_text()[:500])
    return p.name, "invalid JSON"


def _d_scene_wrong_type(root):
    p = _scene_file(root)
    p.write_text("[]")
    return p.name, "must be a JSON object"


def _d_sample_without_camera(root):
    p = _scene_file(root)

    def drop(doc):
        cam = next(d for d in doc["data"] if d["id"]["name"] == "CAMERA_09")
        doc["samples"][0]["datum_keys"].remove(cam["key"])
    _edit_json(p, drop)
    return p.name, "CAMERA_09"


def _d_missing_image(root):
    p = next(root.glob("*/rgb/CAMERA_01/*.png"))
    p.unlink()
    return p.name, "missing"


def _d_corrupt_npz(root):
    p = next(root.glob("*/point_cloud/LIDAR/*.npz"))
    p.write_bytes(b"not a zip at all")
    return p.name, "corrupt point cloud"


def _d_listed_scene_missing(root):
    _scene_file(root).unlink()
    return "scene_", "missing"


DDAD_CASES = {f.__name__[3:]: f for f in (
    _d_missing_calibration, _d_nan_fx, _d_zero_quaternion, _d_truncated_scene,
    _d_scene_wrong_type, _d_sample_without_camera, _d_missing_image, _d_corrupt_npz,
    _d_listed_scene_missing)}


@pytest.mark.parametrize("case", list(DDAD_CASES))
def test_ddad_bad_input(case, dgp_root, tmp_path):
    import shutil

    root = tmp_path / "dgp"
    shutil.copytree(dgp_root, root)
    fname, words = DDAD_CASES[case](root)
    with pytest.raises(DatasetError) as exc:
        ds = open_dataset(root)
        ds.describe()
        ds.frame(0, 0)
    assert fname in str(exc.value) and words in str(exc.value), str(exc.value)


def test_an_empty_first_scene_is_listed_and_skipped(dgp_root, tmp_path):
    """A scene without samples listed first: info, the app's session and export start on the
    first scene with frames; asking for the empty one is one error line naming it."""
    root = dgp_with_empty_first_scene(dgp_root, tmp_path / "dgp")
    ds = open_dataset(root)
    assert [(s.name, s.num_frames) for s in ds.scenes] == [("empty-scene", 0),
                                                           ("scene-keyframe", 1)]
    assert ds.first_scene_with_frames() == 1 and len(ds) == 1
    info = ds.describe()
    assert len(info["cameras"]) == 6 and info["lidar_points"] > 0 and "lidar" in ds.gt_kinds()
    session = Session(load_models=False)
    session.open(root)
    assert session.num_frames(0) == 0 and session.num_frames(1) == 1
    base = [sys.executable, "-m", "fsmde_gui.cli"]
    r = subprocess.run(base + ["info", "--dataset", str(root)], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "empty-scene: 0 frames" in r.stdout, r.stderr
    out = tmp_path / "export"
    r = subprocess.run(base + ["export", "--dataset", str(root), "--out", str(out),
                               "--mode", "rgb"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.glob("*.png")] and all(
        p.name.startswith("scene-keyframe") for p in out.glob("*.png"))
    r = subprocess.run(base + ["export", "--dataset", str(root), "--out", str(out),
                               "--scene", "0"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "fsmde export: error: --scene 0: scene empty-scene has no frames"]
    empty_only = tmp_path / "empty_only"
    dgp_with_empty_first_scene(dgp_root, empty_only)
    meta = json.loads((empty_only / "scene_dataset_v1.0.json").read_text())
    meta["scene_splits"]["0"]["filenames"] = meta["scene_splits"]["0"]["filenames"][:1]
    (empty_only / "scene_dataset_v1.0.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="no samples"):
        Session(load_models=False).open(empty_only)


def test_convert_cli(keyframe_root, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fsmde_gui.cli", "convert", "--dataset", str(keyframe_root),
           "--to", "dgp", "--out", str(out), "--image-size", "400x225"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 frames, 6 images, 1 point clouds" in r.stdout
    ds = open_dataset(out)
    assert ds.frame(0, 0).images.shape == (6, 225, 400, 3)
    assert not list(tmp_path.glob(".out.*"))  # temp folder renamed away
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr


def test_writer_cancel_and_progress(source, tmp_path):
    import threading

    calls = []
    cancel = threading.Event()
    cancel.set()
    s = write_dgp(source, tmp_path / "c", cancel=cancel)
    assert s["cancelled"] is True and not (tmp_path / "c").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # temp folder removed
    s = write_dgp(source, tmp_path / "p", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)] and "cancelled" not in s


def test_missing_map_raster_is_not_needed(keyframe_root, tmp_path):
    from _data_helpers import read_table, writable_copy, write_table

    root = writable_copy(keyframe_root, tmp_path / "kf")
    maps = read_table(root, "map")
    maps[0]["filename"] = "maps/not_downloaded.png"
    write_table(root, "map", maps)
    assert len(open_dataset(root).frame(0, 0).views) == 6


def test_npz_point_cloud_variants(tmp_path):
    from fsmde_gui.data.ddad_adapter import load_npz_points

    xyz = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    np.savez(tmp_path / "plain.npz", data=np.c_[xyz, np.ones(50, np.float32)])  # XYZI
    np.testing.assert_array_equal(load_npz_points(tmp_path / "plain.npz"), xyz)
    rec = np.zeros(50, dtype=[("X", "f4"), ("Y", "f4"), ("Z", "f4"), ("INTENSITY", "f4")])
    rec["X"], rec["Y"], rec["Z"] = xyz.T
    np.savez(tmp_path / "structured.npz", data=rec)
    np.testing.assert_array_equal(load_npz_points(tmp_path / "structured.npz"), xyz)
    np.savez(tmp_path / "nodata.npz", points=xyz)
    with pytest.raises(DatasetError, match="no 'data' array"):
        load_npz_points(tmp_path / "nodata.npz")
    np.savez(tmp_path / "flat.npz", data=xyz.reshape(-1))
    with pytest.raises(DatasetError, match=r"must be \(N, 3\+\)"):
        load_npz_points(tmp_path / "flat.npz")
    bad = xyz.copy()
    bad[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", data=bad)
    with pytest.raises(DatasetError, match="NaN"):
        load_npz_points(tmp_path / "nan.npz")
