"""Frame/scene export and the app's model layer, without Qt: composite PNG, PLY, JSON, PNG
sequence + MP4 with cancel, `fsmde export`, tile modes, bin read-outs."""
from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest

from app_testing import make_tiny_models


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="module")
def session(tiny_sim_root, tiny_models):
    from fsmde_gui.app_model.session import Session

    s = Session(student=tiny_models[0], teacher=tiny_models[1])
    assert s.notes == {}, s.notes
    s.open(tiny_sim_root)
    return s


def test_analysis_has_every_part(session):
    a = session.analysis(0, 0)
    assert a.results["student"].depth.shape == (6, *a.hw)
    assert a.results["teacher"].depth.shape == (6, *a.hw)
    assert set(a.metrics["student"].per_camera) >= {"CAM_FRONT"}
    assert np.isfinite(a.metrics["student"].mean.abs_rel)
    assert len(a.pairs) == 6  # the nuScenes rig: FL-F, F-FR, FR-BR, BR-B, B-BL, BL-FL
    assert a.consistency["student"].value("mean") is not None
    assert len(a.clouds["student"].points) > 1000
    assert a.cloud_color("student", "overlap").shape == (len(a.clouds["student"].points), 3)
    assert a.entropy.shape == (6, *a.hw) and a.entropy.max() <= np.log(16) + 1e-4
    assert session.analysis(0, 0) is a  # cached


def test_bins_at_pixel_are_distributions(session):
    a = session.analysis(0, 0)
    b = a.bins_at(1, 100, 60)
    assert b["centers"].shape == (16,) and np.all(np.diff(b["centers"]) > 0)
    assert b["student"].sum() == pytest.approx(1.0, abs=1e-4)
    assert b["teacher"].sum() == pytest.approx(1.0, abs=1e-4)
    # the teacher's soft assignment peaks at the bin nearest its own depth
    assert abs(b["centers"][b["teacher"].argmax()] - b["teacher_depth"]) <= np.max(np.diff(b["centers"]))
    mass = a.view_bin_mass()
    assert mass["student"].shape == (6, 16)
    np.testing.assert_allclose(mass["student"].sum(1), 1.0, atol=1e-4)


def test_every_tile_mode_renders(session):
    from fsmde_gui.app_model.tiles import MODES, render_tile

    a = session.analysis(0, 0)
    session.reflection(a)  # the reflection mask is deferred until a view needs it
    assert not a.reflection_pending
    for mode in MODES:
        t = render_tile(a, 4, mode)
        assert t.rgb.shape == (*a.hw, 3) and t.rgb.dtype == np.uint8
        if t.note is None:
            assert t.rgb.std() > 1.0, mode
        else:
            assert t.note.startswith("not available"), (mode, t.note)
    with pytest.raises(ValueError):
        render_tile(a, 0, "nonsense")
    hot = render_tile(a, 1, "rgb", overlap_heat=True).rgb
    assert np.any(hot != render_tile(a, 1, "rgb").rgb)  # overlap bands are tinted


def test_export_frame_files_read_back(session, tmp_path):
    from fsmde_gui.core.fusion import read_ply
    from fsmde_gui.export.frame_export import export_frame

    a = session.analysis(0, 1)
    written = export_frame(a, tmp_path, mode="error")
    png = cv2.imread(str(written["png"]))
    assert png.shape[0] > 2 * a.hw[0] and png.shape[1] > 3 * 300
    assert png.std() > 10
    meta = json.loads(written["json"].read_text())
    assert meta["frame_index"] == 1
    assert meta["metrics"]["student"]["mean"]["abs_rel"] == pytest.approx(a.metrics["student"].mean.abs_rel)
    assert "student" in meta["inference_ms"]
    cloud = read_ply(written["ply_student"])
    assert len(cloud.points) == len(a.clouds["student"].points)
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_export_to_a_file_path_is_a_clear_error(session, tmp_path):
    from fsmde_gui.core.errors import FsmdeError
    from fsmde_gui.export.frame_export import export_frame

    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(FsmdeError, match="not a folder"):
        export_frame(session.analysis(0, 0), f)


def test_sequence_export_png_and_mp4(session, tmp_path):
    from fsmde_gui.export.sequence_export import export_sequence

    seen = []
    res = export_sequence(session, 0, tmp_path, "student", fps=4, progress=lambda d, t: seen.append((d, t)))
    assert res["frames"] == 3 and seen[-1] == (3, 3)
    assert [p.name for p in res["pngs"]] == sorted(p.name for p in tmp_path.glob("*.png"))
    cap = cv2.VideoCapture(str(res["mp4"]))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, img = cap.read()
    cap.release()
    assert n == 3 and ok and img.std() > 10
    assert res["codec"] in ("H.264", "VP9") and res["browser_playable"]


def test_sequence_export_cancel_leaves_no_video(session, tmp_path):
    from fsmde_gui.export.sequence_export import export_sequence

    cancel = threading.Event()

    def progress(done, total):
        cancel.set()  # cancel after the first frame

    res = export_sequence(session, 0, tmp_path, "rgb", progress=progress, cancel=cancel)
    assert res["cancelled"] and res["frames"] == 1 and res["mp4"] is None
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))


def test_fsmde_export_command(tiny_sim_root, tiny_models, tmp_path, capsys):
    from fsmde_gui.cli import main

    rc = main(["export", "--dataset", str(tiny_sim_root), "--frame", "2", "--out", str(tmp_path),
               "--mode", "gt", "--student", str(tiny_models[0]), "--teacher", str(tiny_models[1])])
    assert rc == 0
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".json", ".ply", ".ply", ".png"]
    assert main(["export", "--dataset", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_session_reports_missing_models_as_notes(tiny_sim_root, tmp_path):
    from fsmde_gui.app_model.session import Session

    s = Session(student=tmp_path / "nope.pt", teacher=tmp_path / "nope2.pt")
    assert s.notes["student"].startswith("not available") and "nope.pt" in s.notes["student"]
    s.open(tiny_sim_root)
    a = s.analysis(0, 0)
    assert not a.results and a.note("fusion").startswith("not available")
    from fsmde_gui.app_model.tiles import render_tile

    t = render_tile(a, 0, "student")
    assert t.note.startswith("not available")
