"""The adapters on simulator output (tiny preset): dense GT, neighbours, DGP round trip, damage."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from fsmde_gui.core.errors import DatasetError
from fsmde_gui.data.detect import detect_format, open_dataset
from fsmde_gui.data.dgp_writer import write_dgp

from _data_helpers import writable_copy


@pytest.fixture(scope="module")
def sim(tiny_sim_root):
    return open_dataset(tiny_sim_root)


def test_simulator_detected_with_all_gt(sim, tiny_sim_root):
    from fsmde_gui.data.simulator.classes import CLASS_NAMES

    assert detect_format(tiny_sim_root) == "simulator"
    info = sim.describe()
    assert info["format"] == "simulator" and info["num_frames"] == 3
    assert info["gt_kinds"] == ["depth_sparse", "depth_dense", "semantic", "instance",
                                "reflection", "albedo", "shading", "specular", "lidar"]
    assert info["class_names"] == list(CLASS_NAMES)
    assert all((c["width"], c["height"]) == (224, 128) for c in info["cameras"])
    # 6 images + 1 LiDAR per frame, 7 GT maps per image
    assert info["num_files_checked"] == 3 * (7 + 6 * 7)


def test_dense_gt_values(sim, tiny_sim_root):
    f = sim.frame(0, 1)
    v = f.view("CAM_FRONT")
    raw = cv2.imread(str(tiny_sim_root / "depth" / "CAM_FRONT" /
                         (v.image_path.split("/")[-1].split(".")[0] + ".png")), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(v.depth_dense, raw.astype(np.float32) / 256.0)
    assert v.semantic.max() < len(f.class_names) and v.instance.dtype == np.int32
    assert v.reflection.dtype == bool and v.albedo.shape == (128, 224, 3)
    assert 0 <= v.shading.min() and v.shading.max() <= 1.0
    # LiDAR GT and rendered depth describe the same scene
    both = (v.depth_sparse > 0) & (v.depth_dense > 0)
    assert both.sum() > 100
    assert np.median(np.abs(v.depth_sparse[both] - v.depth_dense[both])) < 0.3


def test_neighbours(sim):
    f = sim.frame(0, 1)
    assert sorted(f.neighbours) == [-1, 1]
    prev = f.neighbours[-1]()
    assert prev.frame_index == 0 and prev.views[0].depth_dense is None
    np.testing.assert_array_equal(prev.images, sim.frame(0, 0, load_gt=False).images)
    assert prev.timestamp < f.timestamp < f.neighbours[1]().timestamp
    assert sorted(sim.frame(0, 0).neighbours) == [1]
    assert f.neighbours[1](load_gt=True).views[0].depth_dense is not None


def test_resized_dense_gt_is_nearest(tiny_sim_root, sim):
    small = open_dataset(tiny_sim_root, image_size=(112, 64)).frame(0, 0)
    big = sim.frame(0, 0)
    for vs, vb in zip(small.views, big.views):
        assert vs.depth_dense.shape == (64, 112) and vs.albedo.shape == (64, 112, 3)
        assert set(np.unique(vs.semantic)) <= set(np.unique(vb.semantic))
        assert np.isin(vs.depth_dense, vb.depth_dense).all()  # no interpolated values


def test_dgp_round_trip_of_simulator(sim, tmp_path):
    out = tmp_path / "sim_dgp"
    write_dgp(sim, out)
    ddad = open_dataset(out)
    assert ddad.format_name == "ddad" and len(ddad) == 3
    assert ddad.describe()["camera_mapping"]["CAM_BACK"] == "CAMERA_09"
    for i in range(3):
        a, b = sim.frame(0, i), ddad.frame(0, i)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_allclose(b.intrinsics, a.intrinsics, atol=1e-12)
        np.testing.assert_allclose(b.cam_to_ego, a.cam_to_ego, atol=1e-9)
        np.testing.assert_allclose(b.ego_to_world, a.ego_to_world, atol=1e-8)
        np.testing.assert_allclose(b.lidar_points_ego, a.lidar_points_ego, atol=1e-6)
        for va, vb in zip(a.views, b.views):
            np.testing.assert_allclose(vb.ego_to_world, va.ego_to_world, atol=1e-8)
    assert sorted(ddad.frame(0, 1).neighbours) == [-1, 1]


@pytest.mark.parametrize("kind", ["semantic", "depth"])
def test_damaged_simulator_gt(kind, tiny_sim_root, tmp_path):
    root = writable_copy(tiny_sim_root, tmp_path / "sim")
    p = sorted((root / kind / "CAM_FRONT_RIGHT").glob("*.png"))[1]
    if kind == "semantic":
        cv2.imwrite(str(p), np.zeros((64, 112), np.uint8))
        words = "112x64"
    else:
        p.write_bytes(p.read_bytes()[:100])
        words = "truncated PNG"
    ds = open_dataset(root)
    with pytest.raises(DatasetError, match=words) as exc:
        ds.frame(0, 1)
    assert p.name in str(exc.value)
    with pytest.raises(DatasetError, match=p.name):
        ds.describe()


def test_missing_classes_json_still_simulator(tiny_sim_root, tmp_path):
    root = tmp_path / "sim"
    shutil.copytree(tiny_sim_root, root)
    (root / "classes.json").unlink()
    ds = open_dataset(root)
    assert ds.format_name == "simulator" and ds.class_names is None
