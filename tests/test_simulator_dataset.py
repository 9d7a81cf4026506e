"""Simulator output layout, GT encodings, determinism, cancel and bad input."""
from __future__ import annotations

import hashlib
import json
import threading

import cv2
import numpy as np
import pytest

from fsmde_gui.core.errors import DatasetError, FsmdeError
from fsmde_gui.core.types import CAMERA_NAMES
from fsmde_gui.data.simulator.classes import CLASS_NAMES
from fsmde_gui.data.simulator.generate import GT_KINDS, generate_dataset
from fsmde_gui.data.simulator.presets import PRESETS, scene_seed


def _read(path):
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert a is not None, path
    return a


def test_tiny_layout_and_encodings(tiny_sim_root):
    root = tiny_sim_root
    assert (root / ".complete").exists()
    tables = {p.stem: json.loads(p.read_text()) for p in (root / "v1.0-mini").glob("*.json")}
    assert len(tables["scene"]) == 1 and len(tables["sample"]) == 3
    assert len(tables["sample_data"]) == 3 * 7  # 6 cameras + LIDAR_TOP
    assert {s["channel"] for s in tables["sensor"]} == set(CAMERA_NAMES) | {"LIDAR_TOP"}
    classes = json.loads((root / "classes.json").read_text())
    assert classes["names"] == list(CLASS_NAMES)
    assert set(classes["thin"]) == {"pole", "sign"}
    for cam in CAMERA_NAMES:
        jpgs = sorted((root / "samples" / cam).glob("*.jpg"))
        assert len(jpgs) == 3
        img = _read(jpgs[0])
        assert img.shape == (128, 224, 3)
        name = jpgs[0].stem
        maps = {k: _read(root / k / cam / f"{name}.png") for k in GT_KINDS}
        assert maps["depth"].dtype == np.uint16 and maps["depth"].shape == (128, 224)
        assert maps["instance"].dtype == np.uint16
        assert maps["shading"].dtype == np.uint16
        assert maps["semantic"].dtype == np.uint8 and maps["semantic"].max() < len(CLASS_NAMES)
        assert set(np.unique(maps["reflection"])) <= {0, 255}
        assert maps["albedo"].shape == (128, 224, 3) and maps["specular"].shape == (128, 224, 3)
        depth = maps["depth"] / 256.0
        sky = maps["semantic"] == CLASS_NAMES.index("sky")
        assert np.all(depth[sky] == 0)
        assert np.all(depth[~sky] > 0.5)  # every surface pixel has a depth, nothing too near
        # image = albedo * shading + specular (up to 8-bit rounding and JPEG)
        recon = (maps["albedo"] / 255.0) * (maps["shading"] / 65535.0)[..., None] \
            + maps["specular"] / 255.0
        assert np.abs(recon - img / 255.0).mean() < 0.03
    lidar = sorted((root / "samples" / "LIDAR_TOP").glob("*.pcd.bin"))
    assert len(lidar) == 3
    pts = np.fromfile(lidar[0], dtype=np.float32).reshape(-1, 5)
    assert 20_000 < len(pts) < 36_000  # sparse like a real 32-beam sweep
    assert set(np.unique(pts[:, 4]).astype(int)) <= set(range(32))
    assert np.all(np.linalg.norm(pts[:, :3], axis=1) <= 100.0 + 1e-3)


def test_ego_motion_and_moving_cars(tiny_sim_root):
    tables = {p.stem: json.loads(p.read_text())
              for p in (tiny_sim_root / "v1.0-mini").glob("*.json")}
    samples = sorted(tables["sample"], key=lambda s: s["timestamp"])
    assert [b["timestamp"] - a["timestamp"] for a, b in zip(samples, samples[1:])] == [100_000] * 2
    poses = {e["token"]: e for e in tables["ego_pose"]}
    lidar_sd = sorted([s for s in tables["sample_data"] if "LIDAR_TOP" in s["filename"]],
                      key=lambda s: s["timestamp"])
    xyz = np.array([poses[s["ego_pose_token"]]["translation"] for s in lidar_sd])
    step = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
    assert np.all(step > 0.3) and np.all(step < 2.0)  # 3..20 m/s at 10 Hz
    # annotated cars: some parked (still), some moving between consecutive samples
    ann = tables["sample_annotation"]
    by_inst: dict[str, list] = {}
    for a in ann:
        by_inst.setdefault(a["instance_token"], []).append(a)
    moved = [np.linalg.norm(np.subtract(v[-1]["translation"], v[0]["translation"]))
             for v in by_inst.values() if len(v) == 3]
    assert max(moved) > 0.5 and min(moved) < 1e-6


def test_same_seed_identical_different_seed_differs(tmp_path, tiny_sim_root):
    def digest(root):
        h = hashlib.md5()
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()

    again = tmp_path / "again"
    generate_dataset(again, preset="tiny", seed=123)
    assert digest(again) == digest(tiny_sim_root)
    other = tmp_path / "other"
    generate_dataset(other, preset="tiny", seed=124)
    cam = "CAM_FRONT"
    a = _read(sorted((tiny_sim_root / "depth" / cam).glob("*.png"))[0]).astype(float)
    b = _read(sorted((other / "depth" / cam).glob("*.png"))[0]).astype(float)
    assert np.mean(np.abs(a - b) > 256) > 0.05  # >5 % of pixels differ by > 1 m


def test_progress_cancel_and_overwrite(tmp_path):
    out = tmp_path / "ds"
    calls = []
    summary = generate_dataset(out, preset="tiny", seed=5, progress=lambda d, t: calls.append((d, t)),
                               num_frames=2, width=64, height=48)
    assert calls == [(1, 2), (2, 2)]
    assert summary["frames"] == 2 and summary["frames_per_s"] > 0
    assert (out / ".complete").exists()
    # regenerating into an existing simulator dataset replaces it
    generate_dataset(out, preset="tiny", seed=6, num_frames=1, width=64, height=48)
    assert len(list((out / "samples" / "CAM_FRONT").glob("*.jpg"))) == 1
    # cancel: nothing written, no temp folder left behind
    cancel = threading.Event()
    cancel.set()
    res = generate_dataset(tmp_path / "cancelled", preset="tiny", cancel=cancel)
    assert res["cancelled"] is True
    assert not (tmp_path / "cancelled").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_input_errors(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a simulator dataset"):
        generate_dataset(foreign, preset="tiny")
    assert (foreign / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        generate_dataset(afile, preset="tiny")
    with pytest.raises(FsmdeError, match="unknown simulator preset"):
        generate_dataset(tmp_path / "x", preset="huge")
    with pytest.raises(FsmdeError, match="seed"):
        generate_dataset(tmp_path / "x", preset="tiny", seed=1000)


def test_preset_seed_ranges_disjoint():
    ranges = {}
    for p in PRESETS.values():
        ranges[p.name] = (scene_seed(p, 0, 0), scene_seed(p, 999, 999))
    names = sorted(ranges, key=lambda n: ranges[n][0])
    for a, b in zip(names, names[1:]):
        assert ranges[a][1] < ranges[b][0], (a, b)
    assert PRESETS["tiny"].num_scenes == 1 and PRESETS["tiny"].num_frames == 3
    assert (PRESETS["tiny"].width, PRESETS["tiny"].height) == (224, 128)
    assert (PRESETS["sample"].num_scenes, PRESETS["sample"].num_frames) == (2, 20)
    # the shipped students' preset and the (larger) held-out evaluation preset
    assert (PRESETS["student"].num_scenes, PRESETS["student"].num_frames) == (24, 20)
    assert (PRESETS["student"].width, PRESETS["student"].height) == (448, 256)
    assert (PRESETS["heldout"].num_scenes, PRESETS["heldout"].num_frames) == (12, 10)
    assert PRESETS["student"].seed_base == 5_000_000


def test_cli_generate(tmp_path, capsys):
    from fsmde_gui.cli import main

    out = tmp_path / "cli"
    assert main(["generate", "--out", str(out), "--preset", "tiny", "--seed", "3", "--frames",
                 "1", "--width", "64", "--height", "48", "--quiet"]) == 0
    assert "wrote 1 frames" in capsys.readouterr().out
    assert (out / ".complete").exists()
    assert main(["generate", "--out", str(out), "--preset", "tiny", "--seed", "-1"]) == 2
    assert "seed" in capsys.readouterr().err


def test_cancel_midway_and_failure_leave_nothing(tmp_path, monkeypatch):
    import fsmde_gui.data.simulator.generate as gen

    cancel = threading.Event()
    res = generate_dataset(tmp_path / "c", preset="tiny", cancel=cancel, width=48, height=32,
                           progress=lambda done, total: cancel.set())
    assert res["cancelled"] is True and res["frames_done"] == 1 and res["frames"] == 3
    assert list(tmp_path.iterdir()) == []

    previous = tmp_path / "prev"
    generate_dataset(previous, preset="tiny", seed=9, num_frames=1, width=48, height=32)
    before = sorted(p.name for p in (previous / "samples" / "CAM_FRONT").iterdir())
    real = gen.simulate_frame
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "simulate_frame", failing)
    with pytest.raises(RuntimeError, match="boom"):
        generate_dataset(previous, preset="tiny", seed=10, width=48, height=32)
    # the previous dataset is intact and no temp folder is left behind
    assert sorted(p.name for p in (previous / "samples" / "CAM_FRONT").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]


def test_preview_mosaic(tiny_sim_root, tmp_path):
    from fsmde_gui.data.simulator.preview import KINDS, preview_mosaic, save_preview

    m = preview_mosaic(tiny_sim_root, frame=2)
    assert m.shape == (len(KINDS) * 2 * 128, 3 * 224, 3) and m.dtype == np.uint8
    sem_row = m[2 * 2 * 128:2 * 3 * 128]  # semantic rows use the class palette
    assert len(np.unique(sem_row.reshape(-1, 3), axis=0)) >= 6
    out = save_preview(tiny_sim_root, tmp_path / "p.png")
    assert cv2.imread(str(out)).shape == m.shape
    with pytest.raises(DatasetError, match="out of range"):
        preview_mosaic(tiny_sim_root, frame=3)
