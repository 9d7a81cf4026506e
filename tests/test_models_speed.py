"""Speed benchmark plumbing (numbers are not asserted: no timing assertions in unit tests)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fsmde_gui.cli import main as cli_main
from fsmde_gui.evaluation.speed import format_table, run_speed, time_models



def test_time_models_counts_flops_exactly():
    conv = nn.Conv2d(3, 8, 1, bias=False)
    x = torch.rand(2, 3, 10, 12)
    out = time_models({"conv": (conv, x)}, rounds=2, warmup=1)["conv"]
    assert out["gflops"] * 1e9 == 2 * 3 * 8 * 2 * 10 * 12
    assert out["runs"] == 2 and out["ms"] > 0 and out["ms_min"] <= out["ms"]
    assert out["fps"] == pytest.approx(1e3 / out["ms"])
    flops_only = time_models({"conv": (conv, x)}, rounds=0, warmup=1)["conv"]
    assert flops_only["ms"] is None and flops_only["gflops"] == out["gflops"]


@pytest.fixture(scope="module")
def tiny_speed():  # builds DA-V2-Small (24.8 M) and starts a memory-probe process: ~10 s
    lines = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: thread synchronisation would dominate
    try:
        result = run_speed(quick=True, device="cpu", log=lines.append, input_hw=(32, 64),
                           anchor_hw=(56, 112), dav2_short_side=28, anchor_short_side=56,
                           matmul_n=512)
    finally:
        torch.set_num_threads(threads)
    return result, lines


@pytest.mark.slow
def test_run_speed_result_keys(tiny_speed):
    r, lines = tiny_speed
    for key in ("student_ms", "teacher_ms", "dav2_small_ms", "speedups", "params", "gflops",
                "matmul_peak_gflops", "student_gflops_per_s", "student_peak_fraction",
                "student_peak_memory_mb", "anchor", "fps"):
        assert key in r, key
    assert r["params"]["dav2_small"] == pytest.approx(24.79e6, rel=2e-3)
    assert r["params"]["student"] < r["params"]["teacher"] < r["params"]["dav2_small"]
    assert r["gflops"]["student"] < r["gflops"]["teacher"]
    assert r["speedups"]["dav2_small_vs_student"] == pytest.approx(
        r["dav2_small_ms"] / r["student_ms"])
    assert r["anchor"]["dav2_small_gflops"] > r["anchor"]["student_gflops"] > 0
    assert r["anchor"]["dav2_small_ms"] is None  # quick mode on a CPU: FLOPs only
    assert r["speedups"]["dav2_small_518_vs_student"] is None
    assert r["flop_ratios"]["dav2_small_518_vs_student"] > r["flop_ratios"]["dav2_small_vs_student"]
    assert 0 < r["student_peak_fraction"]
    assert r["student_peak_memory_mb"] is not None and r["student_peak_memory_mb"] >= 0
    json.dumps(r)  # JSON-able
    table = format_table(r)
    assert "student" in table and "dav2_small" in table and any("student" in ln for ln in lines)


def test_bench_cli_unknown_benchmark(capsys):
    assert cli_main(["bench", "no_such_bench"]) == 2
    assert "unknown benchmark 'no_such_bench'" in capsys.readouterr().err


def test_bench_cli_writes_json(monkeypatch, tmp_path, capsys):
    import fsmde_gui.evaluation.backend_speed as backend_speed
    import fsmde_gui.evaluation.speed as speed

    calls, backends = [], []

    def fake_run_speed(quick=True, device=None, **kw):
        calls.append((quick, device))
        return {"student_ms": 1.5, "speedups": {"dav2_small_vs_student": 12.0}}

    def fake_run_backends(threads=(1, 2), rounds=3, device=None, **kw):
        backends.append((list(threads), rounds, device))
        return {"speedup": 21.0, "rows": {}}

    monkeypatch.setattr(speed, "run_speed", fake_run_speed)
    monkeypatch.setattr(backend_speed, "run_backends", fake_run_backends)
    out = tmp_path / "sub" / "speed.json"
    assert cli_main(["bench", "speed", "--json", str(out), "--device", "cpu"]) == 0
    assert backends == [([1, 2], 3, "cpu")] and calls == []  # default: the backend table
    assert json.loads(out.read_text())["speedup"] == 21.0
    assert not list(out.parent.glob(".*tmp"))
    assert cli_main(["bench", "speed", "--models", "--threads", "1", "--rounds", "7"]) == 0
    assert backends[-1] == ([1], 7, None) and calls == [(True, None)]
    assert cli_main(["bench", "speed", "--full", "--json", str(out)]) == 0
    assert calls[-1] == (False, None)
    assert json.loads(out.read_text())["models"]["speedups"]["dav2_small_vs_student"] == 12.0
    capsys.readouterr()
    for bad in (["--threads", "0"], ["--threads", "one"], ["--rounds", "0"]):
        assert cli_main(["bench", "speed", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and bad[0] in err[0], err


def test_flop_counter_counts_cpu_attention():
    from fsmde_gui.evaluation.speed import flop_counter

    q = k = v = torch.rand(1, 2, 16, 8)
    with flop_counter() as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    # Q K^T and (softmax) V: two batched matmuls of 2 * b*h * s*s*d FLOPs each
    assert counter.get_total_flops() == 2 * (2 * 1 * 2 * 16 * 16 * 8)
