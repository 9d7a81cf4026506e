"""Object-level figures (per_category) in evaluation and `fsmde eval`; its progress bar."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from fsmde_gui.cli import main
from fsmde_gui.commands.progress import ProgressBar
from fsmde_gui.core.types import DepthResult
from fsmde_gui.data.detect import open_dataset
from fsmde_gui.models.checkpoint import build_model, save_checkpoint
from fsmde_gui.evaluation.evaluate import evaluate_dataset, format_table

TINY_STUDENT = {"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                "decoder_widths": [32, 24, 16, 16], "bin_hidden": 32, "num_bins": 16,
                "input_size": [96, 64]}


class ScaledGT:
    """Predicts ``factor`` x the sparse GT (10 m where there is none)."""

    def __init__(self, factor: float):
        self.factor = factor

    def predict(self, frame):
        d = [np.where(v.depth_sparse > 0, v.depth_sparse, 10.0) * self.factor for v in frame.views]
        return DepthResult(depth=np.stack(d).astype(np.float32), model_name="scaled-gt")


def test_per_category_on_simulator(tiny_sim_root):
    ds = open_dataset(tiny_sim_root)
    exact = evaluate_dataset(ds, ScaledGT(1.0), consistency=False)
    cats = exact["per_category"]
    assert "car" in cats and "background" in cats and list(cats)[-1] == "background"
    assert all(m["abs_rel"] == pytest.approx(0.0, abs=1e-6) for m in cats.values())
    off = evaluate_dataset(ds, ScaledGT(1.3), max_depth=1000.0, consistency=False)
    car = off["per_category"]["car"]
    assert car["abs_rel"] == pytest.approx(0.3, rel=1e-4) and car["a1"] == 0.0
    assert car["points"] > 50 and car["boxes"] >= 1
    assert "by object class" in format_table(off)


def test_per_category_on_a_real_scene(real_scene_root):
    ds = open_dataset(real_scene_root, image_size=(320, 180))
    res = evaluate_dataset(ds, ScaledGT(1.1), max_depth=1000.0, max_frames=2,
                           consistency=False)
    cats = res["per_category"]
    assert {"car", "pedestrian", "background"} <= set(cats)
    assert cats["car"]["abs_rel"] == pytest.approx(0.1, rel=1e-4)
    assert cats["pedestrian"]["objects"] >= 5  # "many peds"
    car = cats["car"]
    assert car["objects"] <= car["boxes"] <= 2 * car["objects"]  # 2 frames
    assert sum(m["points"] for m in cats.values()) == res["overall"]["count"]


def test_no_boxes_no_section(keyframe_root):
    res = evaluate_dataset(open_dataset(keyframe_root), ScaledGT(1.0), consistency=False)
    assert "per_category" not in res


def test_eval_cli_json_and_progress_bar(tiny_sim_root, tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "s.pt", build_model("student", TINY_STUDENT), meta={})
    out = tmp_path / "eval.json"
    assert main(["eval", "--dataset", str(tiny_sim_root), "--student", str(ckpt),
                 "--no-consistency", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert "car" in data["per_category"] and data["per_category"]["car"]["points"] > 0
    cap = capsys.readouterr()
    assert "by object class" in cap.out
    err = cap.err.split("\n")
    bar = [line for line in err if "eval student [" in line]
    assert len(bar) == 1  # one line, redrawn with \r
    assert bar[0].count("\r") == 4  # 0/3, 1/3, 2/3, 3/3
    assert bar[0].rstrip().split("\r")[-1].startswith("eval student [" + "#" * 24 + "] 3/3 frames")
    assert main(["eval", "--dataset", str(tiny_sim_root), "--student", str(ckpt),
                 "--no-consistency", "--no-progress"]) == 0
    assert "eval student [" not in capsys.readouterr().err


def test_progress_bar_lines():
    s = io.StringIO()
    bar = ProgressBar("eval", stream=s, width=10)
    bar(0, 4)
    bar(2, 4)
    bar.close()
    parts = s.getvalue().split("\r")
    assert parts[1].startswith("eval [----------] 0/4 frames")
    assert parts[2].startswith("eval [#####-----] 2/4 frames") and "eta" in parts[2]
    assert s.getvalue().endswith("\n")
