"""Where the deployment student's time goes (``student_kd_lite``, the one ``fsmde bench speed``
judges): ``torch.profiler`` top ops, before and after the inference
rewrites, at its shipped input (6 x 112 x 192) and at 6 x 160 x 288, one thread; and ONNX
Runtime's per-operator profile of the exported graph (NCHW vs NHWC bin softmax).

``python -m benchmarks.run_all profile`` (about 2 minutes on a 2-core CPU). "before" is the
model as the estimator ran it before (BatchNorm folded, channels-last weights, eager conv2d,
channel-axis softmax); "after" is :func:`fsmde_gui.models.fast_inference.optimize_for_inference_`.
"""
from __future__ import annotations

import collections
import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from fsmde_gui.evaluation.backend_speed import DEPLOY_STUDENT
from fsmde_gui.models.blocks import fuse_conv_bn_
from fsmde_gui.models.fast_inference import optimize_for_inference_, use_nhwc_binning_
from fsmde_gui.models.onnx_export import export_proto, load_student
from fsmde_gui.models.onnx_runtime import require, session_options

SIZES = ((112, 192), (160, 288))
RUNS = 5


def _variants(student: torch.nn.Module) -> dict:
    before = fuse_conv_bn_(copy.deepcopy(student)).to(memory_format=torch.channels_last)
    return {"before": before, "after": optimize_for_inference_(copy.deepcopy(student))}


def torch_top_ops(model, hw, top: int = 8) -> dict:
    x = torch.rand(1, 6, 3, *hw)
    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(RUNS):
                model(x)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    return {"ms_per_frame": total / 1e3 / RUNS,
            "top": [(e.key, e.self_cpu_time_total / 1e3 / RUNS,
                     100 * e.self_cpu_time_total / total, e.count // RUNS)
                    for e in events[:top]]}


def ort_top_ops(student, hw, nhwc: bool, tmp: Path, top: int = 6) -> dict:
    ort = require("onnxruntime", tmp)
    onnx = require("onnx", tmp)
    model = fuse_conv_bn_(copy.deepcopy(student))
    if nhwc:
        use_nhwc_binning_(model)
    path = tmp / f"student_{'nhwc' if nhwc else 'nchw'}.onnx"
    onnx.save(export_proto(model, (hw[1], hw[0])), str(path))
    options = session_options(ort, threads=1, spinning=False)
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp / "ort")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 6, 3, *hw), dtype=np.float32)
    for _ in range(1 + RUNS):
        session.run(None, {"images": x})
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict = collections.defaultdict(float)
    for e in events:  # mean kernel time over all runs, the first (warm-up) one included
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / (1 + RUNS)
    total = sum(per_op.values())
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])[:top]
    return {"ms_per_frame": total, "top": [(k, v, 100 * v / total) for k, v in ranked]}


def main(out_dir: Path, student: str = DEPLOY_STUDENT) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, _, _ = load_student(student)
    result: dict = {"student": student, "threads": 1, "torch": {}, "onnxruntime": {}}
    try:
        for hw in SIZES:
            for name, variant in _variants(model).items():
                r = result["torch"][f"{name} {hw[0]}x{hw[1]}"] = torch_top_ops(variant, hw)
                print(f"torch {name} {hw[0]}x{hw[1]}: {r['ms_per_frame']:.0f} ms CPU / frame")
                for op, ms, pct, calls in r["top"]:
                    print(f"  {op:<34}{ms:8.1f} ms {pct:5.1f}%  x{calls}")
        with tempfile.TemporaryDirectory() as tmp:
            for nhwc in (False, True):
                key = "NHWC softmax" if nhwc else "NCHW softmax"
                r = result["onnxruntime"][key] = ort_top_ops(model, SIZES[0], nhwc, Path(tmp))
                print(f"onnxruntime {key} {SIZES[0][0]}x{SIZES[0][1]}: "
                      f"{r['ms_per_frame']:.0f} ms kernel time / frame")
                for op, ms, pct in r["top"]:
                    print(f"  {op:<34}{ms:8.1f} ms {pct:5.1f}%")
    finally:
        torch.set_num_threads(threads)
    return result
