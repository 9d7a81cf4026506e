"""Physics of the renderer: analytic road depth, reflection mask, non-Lambertian appearance."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fsmde_gui.core.rig import load_rig, make_pose, quaternion_to_matrix
from fsmde_gui.core.types import CAMERA_NAMES
from fsmde_gui.data.simulator.classes import CLASS_IDS, REFLECTIVE_CLASSES, THIN_CLASSES
from fsmde_gui.data.simulator.frame import simulate_frame
from fsmde_gui.data.simulator.layout import build_street


def _tables(root):
    return {p.stem: json.loads(p.read_text()) for p in (root / "v1.0-mini").glob("*.json")}


def _maps(root, cam, kind):
    files = sorted((root / kind / cam).glob("*.png"))
    return [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]


def test_road_depth_matches_plane(tiny_sim_root):
    t = _tables(tiny_sim_root)
    calib = {c["token"]: c for c in t["calibrated_sensor"]}
    sensors = {s["token"]: s["channel"] for s in t["sensor"]}
    checked = 0
    for sd in t["sample_data"]:
        c = calib[sd["calibrated_sensor_token"]]
        cam = sensors[c["sensor_token"]]
        if not cam.startswith("CAM"):
            continue
        name = sd["filename"].split("/")[-1][:-4]
        depth = cv2.imread(str(tiny_sim_root / "depth" / cam / f"{name}.png"),
                           cv2.IMREAD_UNCHANGED) / 256.0
        sem = cv2.imread(str(tiny_sim_root / "semantic" / cam / f"{name}.png"),
                         cv2.IMREAD_UNCHANGED)
        K = np.array(c["camera_intrinsic"])
        T = make_pose(quaternion_to_matrix(c["rotation"]), c["translation"])  # cam -> ego
        H, W = depth.shape
        u, v = np.meshgrid(np.arange(W), np.arange(H))
        d_ego = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T \
            @ T[:3, :3].T
        with np.errstate(divide="ignore"):
            expected = (-T[2, 3] / d_ego[:, 2]).reshape(H, W)  # ego z = 0 is the road
        road = np.isin(sem, [CLASS_IDS["road"], CLASS_IDS["lane_marking"]]) & (depth < 40)
        road &= expected > 0
        # the ego sways/yaws in the plane only (no roll/pitch), so the plane is exact
        err = np.abs(depth[road] - expected[road])
        assert road.sum() > 200
        assert np.quantile(err, 0.999) < 0.01, (cam, err.max())
        checked += 1
    assert checked == 18


def test_reflection_mask_only_on_reflective_classes(tiny_sim_root):
    reflective_ids = [CLASS_IDS[n] for n in REFLECTIVE_CLASSES]
    n_reflective, seen_classes = 0, set()
    for cam in CAMERA_NAMES:
        for refl, sem, spec in zip(_maps(tiny_sim_root, cam, "reflection"),
                                   _maps(tiny_sim_root, cam, "semantic"),
                                   _maps(tiny_sim_root, cam, "specular")):
            mask = refl == 255
            n_reflective += int(mask.sum())
            assert np.isin(sem[mask], reflective_ids).all()
            seen_classes |= set(np.unique(sem[mask]).tolist())
            # the mask marks where the non-Lambertian residual lives
            if mask.any() and (~mask).any():
                assert spec[mask].mean() > 2 * spec[~mask].mean()
    assert n_reflective > 1000
    assert {CLASS_IDS["window"], CLASS_IDS["car"]} <= seen_classes


@pytest.fixture(scope="module")
def two_frames():
    street = build_street(4_000_777, duration_s=0.5)
    rig = load_rig(width=224, height=128)
    frames = [simulate_frame(street, rig, t, np.random.default_rng(0), lidar=False)
              for t in (0.0, 0.5)]
    return rig, frames


def test_thin_structures_and_classes_present(two_frames):
    _, frames = two_frames
    sem = np.stack([v["semantic"] for v in frames[0].views])
    present = set(np.unique(sem).tolist())
    for name in ("sky", "road", "lane_marking", "sidewalk", "building", "window", "car"):
        assert CLASS_IDS[name] in present, name
    assert any(CLASS_IDS[n] in present for n in THIN_CLASSES)


def test_albedo_consistent_specular_view_dependent(two_frames):
    """The same world point seen 0.5 s later: albedo agrees, the mirror residual does not."""
    rig, (f0, f1) = two_frames
    cam = rig.cameras[CAMERA_NAMES.index("CAM_FRONT")]
    v0, v1 = f0.views[1], f1.views[1]
    H, W = v0["depth"].shape
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    d = v0["depth"]
    ok = (d > 0) & (d < 40) & np.isin(v0["semantic"], [CLASS_IDS["window"],
                                                      CLASS_IDS["building"]])
    pc = np.stack([u[ok], v[ok], np.ones(ok.sum())], -1) @ np.linalg.inv(cam.K).T * d[ok, None]
    T0 = f0.ego_to_world @ cam.cam_to_ego
    T1 = f1.ego_to_world @ cam.cam_to_ego
    pw = pc @ T0[:3, :3].T + T0[:3, 3]
    p1 = (pw - T1[:3, 3]) @ T1[:3, :3]
    uv = p1 @ cam.K.T
    z = uv[:, 2]
    u1, vv1 = np.round(uv[:, 0] / z).astype(int), np.round(uv[:, 1] / z).astype(int)
    inside = (z > 0) & (u1 >= 0) & (u1 < W) & (vv1 >= 0) & (vv1 < H)
    vis = inside.copy()
    vis[inside] = np.abs(v1["depth"][vv1[inside], u1[inside]] - z[inside]) < 0.05
    assert vis.sum() > 300
    a0 = v0["albedo"][ok][vis]
    a1 = v1["albedo"][vv1[vis], u1[vis]]
    glass = v0["semantic"][ok][vis] == CLASS_IDS["window"]
    assert np.median(np.abs(a0 - a1)) < 0.02
    s0 = v0["specular"][ok][vis][glass]
    s1 = v1["specular"][vv1[vis], u1[vis]][glass]
    assert glass.sum() > 50
    assert np.mean(np.abs(s0 - s1).max(axis=1) > 0.02) > 0.2


def test_variety_widens_the_street_distribution():
    """The teacher preset's variety=1 gives more lanes, taller buildings, more pedestrians."""
    plain = [build_street(1_000_000 + i, 1.9, variety=0.0) for i in range(12)]
    varied = [build_street(2_000_000 + i, 1.9, variety=1.0) for i in range(12)]

    def tallest(street):
        bld = street.static.semantic == CLASS_IDS["building"]
        return street.static.vertices[street.static.triangles[bld]].reshape(-1, 3)[:, 2].max()

    assert max(s.info["n_lanes"] for s in plain) <= 4
    assert max(s.info["n_lanes"] for s in varied) >= 4
    assert np.mean([tallest(s) for s in varied]) > np.mean([tallest(s) for s in plain])
    peds = lambda streets: np.mean([sum(a.category.startswith("human") for a in s.actors)  # noqa
                                    for s in streets])
    assert peds(varied) > peds(plain)
    # every street is randomised by its seed, and reproducible
    assert build_street(5, 1.0).static.vertices.tobytes() == \
        build_street(5, 1.0).static.vertices.tobytes()
    assert len({round(s.info["lane_width"], 6) for s in plain}) == len(plain)
