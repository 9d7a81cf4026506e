"""The viewer model without Qt: events fire once per change (never on a no-op set), frames are
clamped into the scene, unknown modes and scenes are refused, the mode registry is complete
(every mode renders a tile of a real tiny-simulator frame) and split view picks its panes."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fsmde_gui.app_model.events import EmitterGroup
from fsmde_gui.app_model.modes import all_modes, get_mode, visible_modes
from fsmde_gui.app_model.tiles import MODE_LABELS, MODE_TIPS, MODES, render_tile
from fsmde_gui.app_model.viewer import EVENTS, ViewerState


def record(state: ViewerState) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    for name in EVENTS:
        getattr(state.events, name).connect(lambda e: seen.append((e.type, e.value)))
    return seen


def test_the_model_layer_imports_no_qt():
    """In a fresh interpreter (pytest plugins may import Qt into this one)."""
    code = ("import sys; import fsmde_gui.app_model.viewer, fsmde_gui.app_model.tiles, "
            "fsmde_gui.app_model.session, fsmde_gui.app_model.jobs; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'pyqtgraph'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_emitter_connect_disconnect_and_event_fields():
    group = EmitterGroup("frame", source="me")
    got = []
    cb = group.frame.connect(got.append)
    group.frame.connect(cb)  # twice: still one callback
    group.frame(3)
    assert [(e.type, e.value, e.source) for e in got] == [("frame", 3, "me")]
    group.frame.disconnect(cb)
    group.frame(4)
    assert len(got) == 1
    with pytest.raises(AttributeError):
        group.nothing  # noqa: B018


def test_every_setter_fires_once_per_change_and_not_on_a_no_op():
    state = ViewerState([5, 3])
    seen = record(state)
    changes = [("mode", "error"), ("overlap_heat", True), ("boxes", True),
               ("highlight_pair", (0, 1)), ("playing", True), ("interval_ms", 250)]
    for name, value in changes:
        setattr(state, name, value)
        setattr(state, name, value)  # the same value again: no event
    assert seen == changes
    assert state.tile_options() == {"overlap_heat": True, "highlight_pair": (0, 1), "boxes": True}
    seen.clear()
    state.highlight_pair = [0, 1]  # a list naming the same pair is no change
    state.highlight_pair = None
    assert seen == [("highlight_pair", None)]


def test_frame_moves_are_clamped_and_fire_frame_then_position():
    state = ViewerState([5, 3])
    seen = record(state)
    state.frame = 2
    assert seen == [("frame", 2), ("position", (0, 2))]
    seen.clear()
    state.frame = 99  # clamped to the last frame
    state.frame = 4  # already there: nothing
    assert state.frame == 4 and seen == [("frame", 4), ("position", (0, 4))]
    seen.clear()
    state.frame = -7
    assert state.frame == 0
    state.scene = 1  # a new scene starts at its first frame: no frame event
    assert seen == [("frame", 0), ("position", (0, 0)), ("scene", 1), ("position", (1, 0))]
    assert state.go_to(1, 5) and state.position == (1, 2)  # scene 1 has 3 frames
    assert not state.go_to(1, 2)


def test_frame_and_scene_validation_refuses_what_the_data_lacks():
    state = ViewerState([5, 0])
    seen = record(state)
    with pytest.raises(ValueError, match="out of range"):
        state.scene = 2
    with pytest.raises(ValueError, match="no frames"):
        state.scene = 1
    with pytest.raises(TypeError):
        state.frame = 1.5
    with pytest.raises(TypeError):
        state.frame = True
    with pytest.raises(ValueError, match="out of range"):
        ViewerState().frame = 0  # no dataset open
    assert seen == [] and state.position == (0, 0)


def test_step_clamps_or_wraps():
    state = ViewerState([3])
    assert state.step(1) and state.step(5) and state.frame == 2
    assert not state.step(1)  # the last frame: no change
    assert state.step(1, wrap=True) and state.frame == 0
    assert not ViewerState().step(1)


def test_set_dataset_clamps_and_always_fires_position():
    state = ViewerState([4])
    seen = record(state)
    state.set_dataset([10, 6], scene=5, frame=20)
    assert state.position == (1, 5)
    assert seen == [("dataset", (10, 6)), ("scene", 1), ("frame", 5), ("position", (1, 5))]
    seen.clear()
    state.set_dataset([10, 6], scene=1, frame=5)  # same indices, new data: reload
    assert seen == [("dataset", (10, 6)), ("position", (1, 5))]
    with pytest.raises(ValueError):
        state.set_dataset([-1])


def test_set_dataset_starts_on_a_scene_with_frames():
    state = ViewerState()
    state.set_dataset([0, 0, 4, 2])  # e.g. a DDAD folder whose first scenes are empty
    assert state.position == (2, 0) and state.num_frames == 4
    state.set_dataset([3, 0, 2], scene=1, frame=1)  # an empty scene asked for: the first with frames
    assert state.position == (0, 1)
    state.set_dataset([0, 0])  # nothing to show anywhere: stays at scene 0, no frames
    assert state.position == (0, 0) and state.num_frames == 0


def test_unknown_and_hidden_modes_are_refused():
    state = ViewerState([1])
    seen = record(state)
    with pytest.raises(ValueError, match="unknown display mode"):
        state.mode = "nope"
    with pytest.raises(ValueError, match="split partner"):
        state.mode = "reflection_gt"
    with pytest.raises(ValueError):
        state.interval_ms = 0
    assert seen == [] and state.mode == "student"


def test_split_panes_and_the_switch_to_student():
    state = ViewerState([1])
    assert state.panes() == ("student", None)
    state.mode = "error"
    seen = record(state)
    state.split = True  # error is not kept by split view: student | teacher
    assert seen == [("mode", "student"), ("split", True)]
    assert state.panes() == ("student", "teacher")
    state.mode = "teacher"
    assert state.panes() == ("student", "teacher")
    state.mode = "reflection"
    assert state.panes() == ("reflection", "reflection_gt")
    state.mode = "rgb"  # a mode change keeps split view on, the teacher on the right
    assert state.split and state.panes() == ("rgb", "teacher")
    state.toggle_student_teacher()
    assert state.mode == "student"
    state.toggle_student_teacher()
    assert state.mode == "teacher"


def test_mode_registry_is_complete_and_explicit_about_the_hidden_mode():
    names = [m.name for m in all_modes()]
    assert tuple(n for n in names if not get_mode(n).hidden) == visible_modes() == MODES
    assert MODES == ("rgb", "student", "teacher", "gt", "error", "diff", "entropy", "reflection")
    assert [m.name for m in all_modes() if m.hidden] == ["reflection_gt"]
    assert set(MODE_LABELS) == set(MODE_TIPS) == set(MODES)
    for mode in all_modes():
        assert mode.label and mode.tooltip and callable(mode.render)
        for pane in mode.split_panes():
            get_mode(pane)  # every split pane is a registered mode
    with pytest.raises(ValueError, match="unknown display mode"):
        get_mode("nope")


@pytest.fixture(scope="module")
def sim_analysis(tiny_sim_root):
    """A real analysis of a tiny simulator frame, without models (no window, no Qt)."""
    from fsmde_gui.app_model.session import Session

    session = Session(load_models=False)
    session.open(tiny_sim_root)
    return session.analysis(0, 0)


def test_every_mode_renders_a_tile_of_a_real_frame(sim_analysis):
    a = sim_analysis
    h, w = a.hw
    for mode in all_modes():
        for cam in (0, 5):
            tile = render_tile(a, cam, mode.name, overlap_heat=True, highlight_pair=(0, 1))
            assert tile.rgb.shape == (h, w, 3) and tile.rgb.dtype == np.uint8
            assert tile.caption
    # without models, the model modes say why they are empty; RGB and GT show data
    assert render_tile(a, 0, "student").note.startswith("not available")
    assert render_tile(a, 0, "rgb").note is None
    assert render_tile(a, 0, "gt").note is None
    with pytest.raises(ValueError):
        render_tile(a, 0, "nope")
