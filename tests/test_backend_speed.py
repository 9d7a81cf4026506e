"""`fsmde bench speed`'s backend table (torch vs ONNX Runtime): plumbing, not timings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnx", reason="needs the deploy extra (pip install -e '.[deploy]')")
pytest.importorskip("onnxruntime", reason="needs the deploy extra")
pytest.importorskip("onnxscript", reason="needs the deploy extra")
transformers = pytest.importorskip("transformers")

from fsmde_gui.evaluation import backend_speed  # noqa: E402
from fsmde_gui.models.checkpoint import save_checkpoint  # noqa: E402
from fsmde_gui.models.depth_anything import DepthAnythingTeacher  # noqa: E402
from fsmde_gui.models.student import StudentConfig, StudentNet  # noqa: E402

TINY = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                     decoder_widths=(32, 16, 16, 16), num_bins=16, bin_hidden=16,
                     input_size=(96, 64), bin_space="log", bin_floor=0.5)


def tiny_dav2() -> DepthAnythingTeacher:
    """The DA-V2 architecture at toy width (2 layers of 32): exports in seconds."""
    backbone = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=4,
                                         num_attention_heads=2, intermediate_size=64,
                                         patch_size=14, image_size=56,
                                         out_features=["stage1", "stage2", "stage3", "stage4"],
                                         reshape_hidden_states=False)
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=16,
        reassemble_hidden_size=32, depth_estimation_type="relative", head_hidden_size=8)
    torch.manual_seed(0)
    return DepthAnythingTeacher(transformers.DepthAnythingForDepthEstimation(config).eval())


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("bs") / "tiny_student.pt",
                           StudentNet(TINY).eval())


@pytest.fixture(scope="module")
def tiny_lite_ckpt(tmp_path_factory) -> Path:
    """The tiny student with the lite decoder (nearest upsampling, fewer bins)."""
    torch.manual_seed(1)
    cfg = StudentConfig(**(TINY.to_dict() | {"decoder_upsample": "nearest", "num_bins": 12}))
    return save_checkpoint(tmp_path_factory.mktemp("bs") / "tiny_lite.pt", StudentNet(cfg).eval())


@pytest.fixture(scope="module")
def result(tiny_lite_ckpt, tiny_ckpt):
    lines = []
    r = backend_speed.run_backends(student=str(tiny_lite_ckpt), threads=(1, 2), rounds=2,
                                   device="cpu", log=lines.append, dav2=tiny_dav2(),
                                   reference=str(tiny_ckpt))
    return r, lines


@pytest.mark.slow
def test_rows_for_every_model_backend_and_thread_count(result):
    r, lines = result
    rows = r["rows"]
    assert len(rows) == 12
    keys = {(x["model"], x["backend"], x["threads"]) for x in rows.values()}
    assert keys == {(m, b, t) for m in ("student", "reference_student", "dav2_small")
                    for b in ("torch", "onnxruntime") for t in ("1 thread", "2 threads")}
    assert {x["name"] for x in rows.values()} == {"tiny_lite", "tiny_student", "DA-V2-Small"}
    assert r["reference_student"].endswith("tiny_student.pt")
    best_ref = min(x["ms"] for x in rows.values() if x["model"] == "reference_student")
    assert all(x["ms"] > 0 and x["runs"] == 2 and x["ms_min"] <= x["ms"] for x in rows.values())
    assert r["input_hw"] == [64, 96] and r["dav2_input_hw"] == [70, 98]  # 14-px multiples
    assert 0 < r["gflops"]["student"]
    assert r["flop_ratio"] == pytest.approx(r["gflops"]["dav2_small"] / r["gflops"]["student"])
    best = min(x["ms"] for x in rows.values() if x["model"] == "student")
    best_d = min(x["ms"] for x in rows.values() if x["model"] == "dav2_small")
    assert r["speedup"] == pytest.approx(best_d / best)  # the reference is not judged
    assert r["reference_speedup"] == pytest.approx(best_ref / best)
    assert r["gflops"]["reference_student"] > r["gflops"]["student"] > 0
    assert r["efficiency"] == pytest.approx(r["speedup"] / r["flop_ratio"])
    assert r["targets"]["speedup_ge_20x"] == (r["speedup"] >= 20)
    assert r["onnx_vs_torch_keyframe_m"] < 1e-2 and "nuscenes-keyframe" in r["keyframe"]
    assert r["dav2_onnx_max_abs_relative"] < 1e-3
    assert r["load_average"]["start"] is not None
    assert all(x["cold_ms"] > 0 for x in rows.values())
    cold = min(x["cold_ms"] for x in rows.values() if x["model"] == "dav2_small") / min(
        x["cold_ms"] for x in rows.values() if x["model"] == "student")
    assert r["cold"]["speedup"] == pytest.approx(cold)
    assert r["cold"]["efficiency"] == pytest.approx(cold / r["flop_ratio"])
    json.dumps(r)
    text = "\n".join(lines)
    assert "load average (1 min)" in text and "speed-up / FLOP ratio" in text
    assert "max |depth diff|" in text and text.count("onnxruntime") >= 6
    assert "tiny_lite vs tiny_student (fastest each)" in text and "not judged" in text
    assert "cold ms" in text and "cold calls (first of each turn, not judged)" in text


def test_interleaved_turns_time_the_last_call_and_report_the_first_as_cold(monkeypatch):
    """Two calls per turn, after a pause: ``ms`` is the second call, ``cold_ms`` the first."""
    clock = {"t": 0.0}
    order = []
    monkeypatch.setattr(backend_speed.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(backend_speed.time, "sleep", lambda s: order.append(("sleep", s)))

    def candidate(name, cold_ms, warm_ms):
        calls = {"n": 0}

        def run(_):
            order.append(name)
            calls["n"] += 1
            clock["t"] += (cold_ms if calls["n"] % 2 == 1 else warm_ms) / 1e3
        return run

    timed = backend_speed.time_interleaved({"a": candidate("a", 9.0, 3.0),
                                            "b": candidate("b", 40.0, 30.0)},
                                           {"a": None, "b": None}, rounds=3, warmup=1)
    assert timed["a"]["ms"] == pytest.approx(3.0) and timed["a"]["cold_ms"] == pytest.approx(9.0)
    assert timed["b"]["ms"] == pytest.approx(30.0) and timed["b"]["cold_ms"] == pytest.approx(40.0)
    assert timed["a"]["runs"] == 3 and timed["b"]["ms_min"] == pytest.approx(30.0)
    gap = ("sleep", backend_speed.IDLE_GAP_S)
    assert order[:6] == [gap, "a", "a", gap, "b", "b"] and len(order) == 4 * 6
    one = backend_speed.time_interleaved({"a": candidate("a", 9.0, 3.0)}, {"a": None},
                                         rounds=2, calls=1, gap_s=0)
    assert one["a"]["ms"] == one["a"]["cold_ms"]


@pytest.mark.slow
def test_dav2_export_failure_is_a_row(tiny_ckpt, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate\nmore detail")

    monkeypatch.setattr(backend_speed, "export_dav2_onnx", broken)
    lines = []
    r = backend_speed.run_backends(student=str(tiny_ckpt), threads=(1,), rounds=1,
                                   device="cpu", log=lines.append, dav2=tiny_dav2(),
                                   reference=None)
    row = r["rows"]["dav2_small / onnxruntime / 1 thread"]
    assert row["ms"] is None and row["error"] == ("export failed: RuntimeError: unsupported "
                                                  "operator aten::frobnicate")
    assert r["fastest"]["dav2_small"] == "torch, 1 thread" and r["speedup"] > 0
    assert r["reference_student"] is None and "reference_speedup" not in r
    assert len(r["rows"]) == 4
    assert any("export failed: RuntimeError" in ln for ln in lines[0].splitlines())
