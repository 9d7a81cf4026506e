"""nuScenes adapter on the REAL keyframe: tables, calibration, devkit-exact sparse LiDAR depth."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.types import CAMERA_NAMES
from fsmde_gui.data.detect import detect_format, open_dataset
from fsmde_gui.data.lidar import load_nuscenes_pcd_bin, rasterize_depth
from fsmde_gui.data.nuscenes_adapter import NuScenesDataset, project_lidar_devkit

from _data_helpers import add_fake_dense_gt, writable_copy


@pytest.fixture(scope="module")
def ds(keyframe_root):
    return open_dataset(keyframe_root)


@pytest.fixture(scope="module")
def frame(ds):
    return ds.frame(0, 0)


def test_detect_and_describe(ds, keyframe_root):
    assert detect_format(keyframe_root) == "nuscenes"
    assert isinstance(ds, NuScenesDataset) and ds.version == "v1.0-mini"
    info = ds.describe()
    assert info["format"] == "nuscenes"
    assert (info["num_scenes"], info["num_frames"], len(ds)) == (1, 1, 1)
    assert [c["name"] for c in info["cameras"]] == list(CAMERA_NAMES)
    assert all((c["width"], c["height"]) == (1600, 900) for c in info["cameras"])
    assert info["lidar_points"] == 34688
    assert info["gt_kinds"] == ["depth_sparse", "lidar"]  # sparse only: no dense GT
    assert info["boxes"] is False
    assert info["num_files_checked"] == 7
    front = info["cameras"][1]
    assert front["fx"] == pytest.approx(1266.417203046554)
    assert front["cx"] == pytest.approx(816.2670197447984)


def test_frame_views(frame):
    assert frame.source == "nuscenes"
    assert frame.images.shape == (6, 900, 1600, 3) and frame.images.dtype == np.uint8
    assert frame.lidar_points_ego.shape == (34688, 3)
    assert frame.neighbours == {}  # one keyframe, no sweeps
    for v in frame.views:
        R = v.cam_to_ego[:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert v.ego_to_world is not None and v.timestamp > 0
        assert v.depth_dense is None and v.semantic is None
    # cameras look where their names say: optical axis yaw in the ego frame
    yaw = {v.name: np.degrees(np.arctan2(v.cam_to_ego[1, 2], v.cam_to_ego[0, 2]))
           for v in frame.views}
    assert abs(yaw["CAM_FRONT"]) < 5 and abs(abs(yaw["CAM_BACK"]) - 180) < 5
    assert 30 < yaw["CAM_FRONT_LEFT"] < 80 and -80 < yaw["CAM_FRONT_RIGHT"] < -30


def test_sparse_depth_matches_devkit_exactly(ds, frame, keyframe_root):
    nusc = ds.nusc
    sample = nusc.sample[0]
    lidar_tok = sample["data"]["LIDAR_TOP"]
    lidar_rec = nusc.get("sample_data", lidar_tok)
    scan = load_nuscenes_pcd_bin(keyframe_root / lidar_rec["filename"])
    for view in frame.views:
        cam_tok = sample["data"][view.name]
        pts, depths, _ = nusc.explorer.map_pointcloud_to_image(lidar_tok, cam_tok, min_dist=1.0)
        cam = nusc.get("sample_data", cam_tok)
        uv, z = project_lidar_devkit(
            scan, nusc.get("calibrated_sensor", lidar_rec["calibrated_sensor_token"]),
            nusc.get("ego_pose", lidar_rec["ego_pose_token"]),
            nusc.get("ego_pose", cam["ego_pose_token"]),
            nusc.get("calibrated_sensor", cam["calibrated_sensor_token"]), view.K, (1600, 900))
        assert len(z) == pts.shape[1] and 3000 < len(z) < 5000
        np.testing.assert_array_equal(z, depths)
        np.testing.assert_array_equal(uv, pts[:2].T)
        # raster: one value per rounded pixel, the nearest of the points landing there
        u, v = np.round(pts[0]).astype(int), np.round(pts[1]).astype(int)
        pix = v * 1600 + u
        nearest = {}
        for p, d in zip(pix, depths):
            nearest[p] = min(d, nearest.get(p, np.inf))
        ds_ = view.depth_sparse
        assert ds_.shape == (900, 1600) and ds_.dtype == np.float32
        assert int((ds_ > 0).sum()) == len(nearest)
        got = ds_.reshape(-1)[list(nearest)]
        np.testing.assert_allclose(got, np.float32(list(nearest.values())), rtol=0, atol=0)


def test_rasterize_keeps_nearest():
    uv = np.array([[2.2, 3.1], [1.8, 2.9], [5.0, 5.0]])
    out = rasterize_depth(uv, np.array([9.0, 4.0, 7.0]), (8, 8))
    assert out[3, 2] == 4.0 and out[5, 5] == 7.0 and (out > 0).sum() == 2


def test_image_size_resizes_and_scales(keyframe_root, frame):
    small = NuScenesDataset(keyframe_root, image_size=(400, 225)).frame(0, 0)
    for big, v in zip(frame.views, small.views):
        assert v.image.shape == (225, 400, 3)
        np.testing.assert_allclose(v.K[:2], big.K[:2] * 0.25)
        assert v.depth_sparse.shape == (225, 400)
        n = int((v.depth_sparse > 0).sum())
        assert 0.9 * (big.depth_sparse > 0).sum() < n <= (big.depth_sparse > 0).sum()
        assert v.depth_sparse.max() <= big.depth_sparse.max() + 1e-3
        # the resized image is the INTER_AREA downscale (mean colour preserved)
        assert abs(v.image.mean() - big.image.mean()) < 1.0
    with pytest.raises(Exception, match="positive"):
        NuScenesDataset(keyframe_root, image_size=(0, 10))


def test_no_gt_skips_lidar(ds):
    f = ds.frame(0, 0, load_gt=False)
    assert f.lidar_points_ego is None and all(v.depth_sparse is None for v in f.views)
    with pytest.raises(IndexError):
        ds.frame(0, 1)


def test_extra_dense_gt_makes_it_simulator(keyframe_root, tmp_path):
    root = writable_copy(keyframe_root, tmp_path / "kf")
    add_fake_dense_gt(root, depth_m=12.5)
    assert detect_format(root) == "simulator"
    ds = open_dataset(root, image_size=(320, 180))
    assert ds.format_name == "simulator" and ds.class_names == ["sky", "road", "car"]
    f = ds.frame(0, 0)
    assert f.source == "simulator" and f.class_names == ["sky", "road", "car"]
    v = f.views[0]
    assert v.depth_dense.shape == (180, 320) and np.all(v.depth_dense == 12.5)
    assert v.semantic.dtype == np.uint8 and np.all(v.semantic == 2)
    assert v.depth_sparse is not None and v.depth_gt is v.depth_sparse
    info = ds.describe()
    assert info["format"] == "simulator" and "depth_dense" in info["gt_kinds"]
    assert info["num_files_checked"] == 7 + 12


def test_sweeps_are_camera_rate_neighbours(keyframe_root, tmp_path):
    """A copy with one camera sweep before the keyframe: neighbour -1 is built from sweeps."""
    import shutil

    from _data_helpers import read_table, sample_data_row, write_table

    root = writable_copy(keyframe_root, tmp_path / "kf")
    rows = read_table(root, "sample_data")
    for cam in CAMERA_NAMES:
        key = sample_data_row(root, cam)
        sweep_file = f"sweeps/{cam}/{cam}_sweep.jpg"
        (root / sweep_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / key["filename"], root / sweep_file)
        sweep = dict(key, token=key["token"][:-4] + "beef", is_key_frame=False,
                     filename=sweep_file, timestamp=key["timestamp"] - 83_000,
                     prev="", next=key["token"])
        for r in rows:
            if r["token"] == key["token"]:
                r["prev"] = sweep["token"]
        rows.append(sweep)
    write_table(root, "sample_data", rows)
    ds = open_dataset(root)
    f = ds.frame(0, 0)
    assert sorted(f.neighbours) == [-1]
    prev = f.neighbours[-1]()
    assert prev.lidar_points_ego is None  # sweeps carry no LiDAR GT
    assert [v.timestamp for v in prev.views] == [v.timestamp - 83_000 for v in f.views]
    np.testing.assert_array_equal(prev.images, f.images)
    assert prev.views[0].image_path.endswith("CAM_FRONT_LEFT_sweep.jpg")
    assert ds.describe()["num_files_checked"] == 13  # sweeps are checked too
    (root / "sweeps" / "CAM_BACK" / "CAM_BACK_sweep.jpg").unlink()
    with pytest.raises(DatasetError, match="CAM_BACK_sweep.jpg"):
        ds.describe()


def test_version_folder_without_sample_table_names_it(keyframe_root, tmp_path):
    root = writable_copy(keyframe_root, tmp_path / "kf")
    (root / "v1.0-mini" / "sample.json").unlink()
    with pytest.raises(DatasetError, match=r"sample\.json: sample table file is missing"):
        open_dataset(root)
