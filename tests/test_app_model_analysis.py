"""A Session and the analysis of a tiny simulator frame without any window (no Qt): typed
metrics (per camera and mean), consistency rows, cloud colourings, every mode's tile, and
the export JSON layout of the typed results."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app_testing import make_tiny_models
from fsmde_gui.app_model.modes import all_modes
from fsmde_gui.app_model.results import (CameraMetrics, CloudRequest, FrameConsistency, FrameMetrics,
                                         PairConsistency, pair_of)
from fsmde_gui.app_model.session import Session
from fsmde_gui.app_model.display_prep import prepare_display
from fsmde_gui.app_model.tiles import render_tile
from fsmde_gui.app_model.viewer import ViewerState
from fsmde_gui.core.metrics import METRIC_NAMES
from fsmde_gui.core.types import CAMERA_NAMES


def test_camera_metrics_round_trip_and_mean():
    d = {k: float(i + 1) for i, k in enumerate(METRIC_NAMES)}
    a = CameraMetrics.from_dict({**d, "count": 10})
    b = CameraMetrics.from_dict({**{k: 2 * v for k, v in d.items()}, "count": 30})
    assert a.to_dict() == {**d, "count": 10}
    fm = FrameMetrics.from_cameras({"CAM_FRONT": a, "CAM_BACK": b})
    assert fm.mean.abs_rel == pytest.approx(1.5) and fm.mean.count is None
    assert "count" not in fm.mean.to_dict() and "scale" not in fm.mean.to_dict()
    assert fm.row("mean") is fm.mean and fm.row("CAM_FRONT") is a and fm.row("CAM_LEFT") is None
    assert list(fm.to_dict()) == ["CAM_FRONT", "CAM_BACK", "mean"]
    scaled = CameraMetrics.from_dict({**d, "count": 5, "scale": 2.0})
    assert CameraMetrics.mean_of([scaled, scaled]).scale == 2.0
    assert CameraMetrics.mean_of([scaled, a]).scale is None
    with pytest.raises(ValueError):
        CameraMetrics.mean_of([])


def test_consistency_rows_from_the_core_layout():
    name = f"{CAMERA_NAMES[0]}|{CAMERA_NAMES[1]}"
    c = FrameConsistency.from_dict({name: 0.5, "X|Y": float("nan"), "mean": 0.5, "n": "skip"})
    assert c.rows[0] == PairConsistency(name, 0.5, (0, 1))
    assert c.rows[1].pair is None and not c.rows[1].finite
    assert c.value(name) == 0.5 and c.value("mean") == 0.5 and c.value("nope") is None
    assert c.finite_values() == [0.5] and [r.name for r in c] == [name, "X|Y"]
    assert set(c.to_dict()) == {name, "X|Y", "mean"}
    assert pair_of(f"{CAMERA_NAMES[2]}|{CAMERA_NAMES[4]}") == (2, 4) and pair_of("CAM_FRONT") is None
    assert math.isnan(FrameConsistency().mean)


@pytest.fixture(scope="module")
def session(tiny_sim_root, tmp_path_factory):
    student, teacher = make_tiny_models(tmp_path_factory.mktemp("tiny_models_model"))
    s = Session(student=student, teacher=teacher)
    assert s.notes == {}, s.notes
    s.open(tiny_sim_root)
    return s


def test_session_analysis_without_a_window(session):
    state = ViewerState([session.num_frames(i) for i in range(len(session.scenes))])
    state.frame = 1
    a = session.analysis(*state.position)
    assert session.cached(*state.position) is a and a.frame.frame_index == 1
    for model in ("student", "teacher"):
        fm = a.metrics[model]
        assert isinstance(fm, FrameMetrics) and set(fm.per_camera) == set(CAMERA_NAMES)
        assert all(isinstance(m, CameraMetrics) and m.count > 0 for m in fm.per_camera.values())
        assert fm.mean.abs_rel == pytest.approx(np.mean([m.abs_rel for m in fm.per_camera.values()]))
        assert a.metric_row(model, "mean") is fm.mean
        cons = a.consistency[model]
        assert len(cons.rows) == len(a.pairs) == 6
        assert {r.pair for r in cons} == set(a.pairs)  # each row names its pair of cameras
        assert cons.value(a.pair_name(a.pairs[0])) == cons.rows[0].value
        assert np.isfinite(cons.mean)
    n = len(a.clouds["student"].points)
    for scheme in ("overlap", "error", "consistency"):
        assert a.cloud_color("student", scheme).shape == (n, 3)
        assert CloudRequest("student", scheme) in a.cloud_colors
    assert a.cloud_color("student", "nope") is None


def test_every_mode_renders_with_models(session):
    a = session.analysis(0, 0)
    a.ensure_reflection()  # the deferred mask (or its "not available" note)
    for mode in all_modes():
        tile = render_tile(a, 2, mode.name, overlap_heat=True, boxes=True)
        assert tile.rgb.shape == (*a.hw, 3) and tile.caption
    assert "AbsRel" in render_tile(a, 0, "student").caption
    assert "RMSE" in render_tile(a, 0, "error").caption


def test_prepared_display_is_what_the_grid_draws(session):
    """The worker's prepare step draws exactly the tiles the GUI then asks for (same pixels
    as drawing them afresh) and computes the bin layout and box wireframes once."""
    a = session.analysis(0, 1)
    a.display_memo.clear()
    prepare_display(a, ("student", "teacher"), overlap_heat=True, highlight_pair=a.pairs[0])
    tiles = [k for k in a.display_memo if k[0] == "tile"]
    assert len(tiles) == 12 and {k[2] for k in tiles} == {"student", "teacher"}
    for cam in (0, 4):
        kept = render_tile(a, cam, "teacher", overlap_heat=True, highlight_pair=a.pairs[0],
                           burn_notes=False, memo=True)
        fresh = render_tile(a, cam, "teacher", overlap_heat=True, highlight_pair=a.pairs[0],
                            burn_notes=False)
        assert kept is render_tile(a, cam, "teacher", overlap_heat=True, highlight_pair=a.pairs[0],
                                   burn_notes=False, memo=True)
        assert kept is not fresh and np.array_equal(kept.rgb, fresh.rgb) and kept.caption == fresh.caption
    # another option is another tile: nothing stale is shown
    plain = render_tile(a, 0, "teacher", burn_notes=False, memo=True)
    assert not np.array_equal(plain.rgb, render_tile(a, 0, "teacher", overlap_heat=True,
                                                     highlight_pair=a.pairs[0], burn_notes=False,
                                                     memo=True).rgb)
    mass = a.view_bin_mass()
    assert mass is a.view_bin_mass() and mass["student"].shape[0] == 6
    assert np.allclose(mass["student"].sum(axis=1), 1.0, atol=1e-4)
    assert {"box_wireframe", "bin_mass"} <= set(a.display_memo)


def test_prepare_failure_leaves_the_analysis_usable(session, monkeypatch):
    """Drawing ahead is best effort: a failing tile renderer does not fail the prefetch; the
    frame is drawn (and the error met) when it is shown."""
    import fsmde_gui.app_model.display_prep as prep

    a = session.analysis(0, 0)

    def broken(*args, **kwargs):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(prep, "prepare_tiles", broken)
    assert prep.prepare_display(a, ("student", None)) is a
    assert "renderer broke" in a.note("display_prep")
    assert render_tile(a, 0, "student", burn_notes=False, memo=True).rgb.shape == (*a.hw, 3)


def test_cloud_colourings_equal_full_size_images_at_the_fused_pixels(session):
    """The error / overlap colourings are drawn only at the fused pixels: the same colours as
    full-size images read through fused_point_colors (what the app did before)."""
    from fsmde_gui.app_model.analysis import MAX_DEPTH, _stride_for
    from fsmde_gui.core.colormaps import colorize
    from fsmde_gui.core.fusion import fused_point_colors

    a = session.analysis(0, 2)
    h, w = a.hw
    stride = _stride_for(6 * h * w)
    depth = a.results["student"].depth
    err = np.zeros((6, h, w, 3), np.float32)
    for c, v in enumerate(a.frame.views):
        gt = v.depth_gt
        err[c] = colorize(np.abs(depth[c] - gt), 0.0, 5.0, "inferno", valid=gt > 0,
                          invalid_color=(70, 70, 78)).astype(np.float32) / 255.0
    overlap = np.full((6, h, w, 3), 0.35, np.float32)
    for (i, j), (mi, mj) in a.overlaps.items():
        overlap[i][mi] = overlap[j][mj] = (1.0, 0.85, 0.2)
    for scheme, img in (("error", err), ("overlap", overlap)):
        want = fused_point_colors(depth, img, stride=stride, max_depth=MAX_DEPTH)
        np.testing.assert_array_equal(a.cloud_colors[CloudRequest("student", scheme)], want)
    assert stride >= 1 and len(want) == len(a.clouds["student"].points)


def test_export_json_keeps_the_nested_layout(session):
    from fsmde_gui.export.frame_export import metrics_dict, metrics_lines

    a = session.analysis(0, 0)
    d = metrics_dict(a)
    assert set(d["metrics"]["student"]) == set(CAMERA_NAMES) | {"mean"}
    assert d["metrics"]["student"]["mean"]["abs_rel"] == a.metrics["student"].mean.abs_rel
    assert d["metrics"]["student"]["CAM_FRONT"]["count"] == a.metrics["student"].per_camera["CAM_FRONT"].count
    assert d["consistency"]["teacher"]["mean"] == a.consistency["teacher"].mean
    assert any("AbsRel" in line and "consistency" in line for line in metrics_lines(a))
