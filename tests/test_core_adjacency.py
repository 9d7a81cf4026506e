"""Camera adjacency and overlap masks computed from rig geometry (issue 8): the real nuScenes rig
must give exactly the six ring pairs, from the bundled rig and from the real keyframe."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fsmde_gui.core.adjacency import (camera_adjacency, neighbour_masks, overlap_fractions,
                                      overlap_masks)
from fsmde_gui.core.fusion import CAMERA_COLORS
from fsmde_gui.core.overlap_mosaic import overlap_mosaic
from fsmde_gui.core.rig import load_rig, make_pose, quaternion_to_matrix
from fsmde_gui.core.types import CAMERA_NAMES, SHORT_NAMES

W, H = 448, 256
RING = {("FL", "F"), ("F", "FR"), ("FR", "BR"), ("BR", "B"), ("B", "BL"), ("BL", "FL")}


def short_pairs(pairs):
    return {tuple(sorted((SHORT_NAMES[CAMERA_NAMES[i]], SHORT_NAMES[CAMERA_NAMES[j]])))
            for i, j in pairs}


def ring():
    return {tuple(sorted(p)) for p in RING}


def check_ring_rig(Ks, cam_to_ego, tmp_path, name, images=None):
    pairs = camera_adjacency(Ks, cam_to_ego, (H, W))
    assert len(pairs) == 6 and short_pairs(pairs) == ring()
    frac = overlap_fractions(Ks, cam_to_ego, (H, W))
    adjacent = np.zeros((6, 6), bool)
    for i, j in pairs:
        adjacent[i, j] = adjacent[j, i] = True
    off = ~adjacent & ~np.eye(6, dtype=bool)
    assert frac[off].max() == 0.0  # non-neighbours share no pixel at 2..50 m
    assert frac[adjacent].min() > 0.03 and frac[adjacent].max() < 0.35
    mosaic = overlap_mosaic(Ks, cam_to_ego, (H, W), images=images)
    assert mosaic.shape == (2 * H, 3 * W, 3) and mosaic.dtype == np.uint8
    path = tmp_path / f"{name}.png"
    assert cv2.imwrite(str(path), mosaic[..., ::-1])
    assert cv2.imread(str(path)).shape == mosaic.shape
    return pairs, frac, mosaic


def test_real_rig_ring_pairs_and_overlap_mosaic(tmp_path):
    rig = load_rig(width=W, height=H)
    pairs, frac, mosaic = check_ring_rig(rig.intrinsics, rig.cam_to_ego, tmp_path, "rig_overlaps")
    # where the overlaps are: F sees FL on its left edge and FR on its right edge
    f, fl, fr = (CAMERA_NAMES.index(n) for n in ("CAM_FRONT", "CAM_FRONT_LEFT", "CAM_FRONT_RIGHT"))
    m_f_fl, _ = overlap_masks(rig.intrinsics, rig.cam_to_ego, (H, W), f, fl)
    m_f_fr, _ = overlap_masks(rig.intrinsics, rig.cam_to_ego, (H, W), f, fr)
    assert m_f_fl[:, :W // 4].mean() > 0.4 and m_f_fl[:, W // 2:].sum() == 0
    assert m_f_fr[:, -W // 4:].mean() > 0.4 and m_f_fr[:, :W // 2].sum() == 0
    # the mosaic tints F's left strip with FL's colour and its right strip with FR's colour
    tile_f = mosaic[H // 2 - 20:H // 2 + 20, W:2 * W].astype(float)  # middle rows of F (top row, 2nd tile)
    left, right = tile_f[:, 5:15].mean((0, 1)), tile_f[:, -15:-5].mean((0, 1))
    base = 48 * 0.4
    np.testing.assert_allclose(left, base + 0.6 * 255 * CAMERA_COLORS[fl], atol=3)
    np.testing.assert_allclose(right, base + 0.6 * 255 * CAMERA_COLORS[fr], atol=3)
    np.testing.assert_allclose(tile_f[:, W // 2 - 10:W // 2 + 10].mean((0, 1)), 48, atol=1)


def test_real_keyframe_calibration_gives_the_ring(keyframe_root, tmp_path):
    pytest.importorskip("fsmde_gui.data.detect")
    from fsmde_gui.data.detect import open_dataset

    frame = open_dataset(keyframe_root, image_size=(W, H)).frame(0, 0, load_gt=False)
    pairs, frac, _ = check_ring_rig(frame.intrinsics, frame.cam_to_ego, tmp_path,
                                    "keyframe_overlaps", images=frame.images)
    bundled = overlap_fractions(load_rig(width=W, height=H).intrinsics,
                                load_rig().cam_to_ego, (H, W))
    np.testing.assert_allclose(frac, bundled, atol=0.03)  # same car, same calibration


def test_overlap_masks_symmetry_depth_maps_and_stride():
    rig = load_rig(width=W, height=H)
    Ks, T = rig.intrinsics, rig.cam_to_ego
    a_i, a_j = overlap_masks(Ks, T, (H, W), 1, 2)
    b_j, b_i = overlap_masks(Ks, T, (H, W), 2, 1)
    np.testing.assert_array_equal(a_i, b_i)
    np.testing.assert_array_equal(a_j, b_j)
    # a single far depth is a subset of the 2..50 m union; constant depth maps = that depth
    far_i, _ = overlap_masks(Ks, T, (H, W), 1, 2, depth=50.0)
    assert far_i.sum() > 0 and not (far_i & ~a_i).any()
    maps_i, _ = overlap_masks(Ks, T, (H, W), 1, 2, depth=np.full((6, H, W), 50.0))
    np.testing.assert_array_equal(maps_i, far_i)
    # pixels without depth are never "seen"
    d = np.full((6, H, W), 50.0)
    d[1, :, W // 2:] = 0
    holes_i, _ = overlap_masks(Ks, T, (H, W), 1, 2, depth=d)
    assert holes_i.sum() == 0  # F's overlap with FR is on its right half
    s_i, s_j = overlap_masks(Ks, T, (H, W), 1, 2, stride=4)
    np.testing.assert_array_equal(s_i, a_i[::4, ::4])
    assert abs(s_j.mean() - a_j.mean()) < 0.01
    with pytest.raises(ValueError, match="positive"):
        overlap_masks(Ks, T, (H, W), 1, 2, depth=[0.0, 5.0])
    with pytest.raises(ValueError, match="depth must be"):
        overlap_masks(Ks, T, (H, W), 1, 2, depth=np.ones((6, 10, 10)))


def _synthetic_rig(yaws_deg, hfov_deg=90.0, w=160, h=90):
    """Cameras at the ego origin looking along the given yaws (0 = forward, + = left)."""
    f = w / 2 / np.tan(np.radians(hfov_deg) / 2)
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    cam_axes = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float).T  # cam x,y,z in ego (fwd)
    Ts = []
    for yaw in np.radians(yaws_deg):
        Rz = quaternion_to_matrix([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
        Ts.append(make_pose(Rz @ cam_axes, [0, 0, 1.5]))
    return np.stack([K] * len(yaws_deg)), np.stack(Ts), (h, w)


def test_adjacency_follows_geometry_not_names():
    # 4 cameras 90 degrees apart with 90-degree FOV touch but do not overlap
    Ks, Ts, hw = _synthetic_rig([0, 90, 180, 270], hfov_deg=88)
    assert camera_adjacency(Ks, Ts, hw) == []
    # widen the lenses to 120 degrees: each camera overlaps its two neighbours by 30 degrees
    Ks, Ts, hw = _synthetic_rig([0, 90, 180, 270], hfov_deg=120)
    assert camera_adjacency(Ks, Ts, hw) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    frac = overlap_fractions(Ks, Ts, hw)
    # shared angle 30 of 120 degrees -> the overlap strip is where tan(angle) > tan(30 deg)
    expected = 1 - (np.tan(np.radians(60)) + np.tan(np.radians(30))) / (2 * np.tan(np.radians(60)))
    assert frac[0, 1] == pytest.approx(expected, abs=0.02)
    # two cameras looking the same way see (almost) everything of each other
    Ks, Ts, hw = _synthetic_rig([0, 0])
    assert overlap_fractions(Ks, Ts, hw)[0, 1] > 0.99
    masks = neighbour_masks(Ks, Ts, hw)
    assert set(masks) == {(0, 1), (1, 0)}
