"""Speed: the student vs Depth Anything V2-Small (random weights, real config), torch eager vs
ONNX Runtime at 1 and 2 threads, plus the model table (bundled teacher, 518 px anchor, memory).

``python -m benchmarks.run_all speed``: the backend table (``fsmde bench speed``: interleaved
runs, medians, load average; the student's speed-up in its fastest backend and its ratio to
the FLOP ratio; the row ``onnx_vs_torch_keyframe_m``, ONNX Runtime vs torch max |depth|
difference of the shipped student on the bundled real nuScenes keyframe, target <= 1 cm),
then the model table in full mode (several minutes on a 2-core CPU). Set
``FSMDE_BENCH_QUICK=1`` for the model table's quick mode.
"""
from __future__ import annotations

import os
from pathlib import Path

from fsmde_gui.evaluation.backend_speed import run_backends
from fsmde_gui.models.inference import apply_thread_setting
from fsmde_gui.evaluation.speed import run_speed


def main(out_dir: Path) -> dict:
    apply_thread_setting()
    quick = os.environ.get("FSMDE_BENCH_QUICK", "") not in ("", "0")
    result = run_backends(rounds=5)
    result["models"] = run_speed(quick=quick)
    return result
