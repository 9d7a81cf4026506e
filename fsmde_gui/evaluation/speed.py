"""Speed, size and FLOPs of the student vs the bundled teacher vs Depth Anything V2-Small.

One process, the same six-view input for every model: median milliseconds per frame over a
few runs after warm-up (models timed round-robin, so a busy machine slows them alike),
frames/s, parameters, GFLOPs per frame (``FlopCounterMode``; one multiply-add = 2 FLOPs),
the student's achieved GFLOP/s as a fraction of this machine's measured matmul peak, and the
student's peak inference memory. Two resolutions:

* ``input``: a 6 x 160 x 288 frame (the students' and teacher's input size). Depth Anything
  gets the same frame at the same pixel count (short side 168 = the nearest multiple of its
  14-px patches: 168 x 294): an equal-resolution comparison.
* ``anchor``: 6 x 518 x 924, the size Depth Anything V2 really runs nuScenes frames at
  (anchor figures on an H100, bf16, eager: DA-V2 S/B/L about 18/30/66 ms; our student's
  target there is <= 3 ms). DA-V2-Small is timed there in full mode (``--full``) or on a
  GPU; quick mode on a CPU counts its FLOPs only (on the ``meta`` device, no compute), so
  that ``fsmde bench speed`` finishes within a minute on a 2-core CPU.

``speedups``: ``teacher_vs_student`` and ``dav2_small_vs_student`` (equal resolution), and
``dav2_small_518_vs_student`` (DA-V2-Small at its real 518 px setting vs the student at its
input size: time ratio when timed, else ``null`` with the FLOP ratio in
``flop_ratios``).

Student and teacher run as :class:`~fsmde_gui.models.inference.DepthEstimator` runs them
(:func:`~fsmde_gui.models.fast_inference.optimize_for_inference_`: BatchNorm folded, channels-last
weights, fused oneDNN convolutions, NHWC bin softmax). CUDA is used when available
(bf16 autocast, synchronised timing, ``torch.cuda.max_memory_allocated``); on the CPU the
student's peak memory is the growth of the peak resident set size (``VmHWM``, reset through
``/proc/self/clear_refs``) of a fresh subprocess during one inference.
"""
from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Callable, Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from ..paths import IMPORT_ROOT
from ..models.fast_inference import POINTWISE_CONV_OP, optimize_for_inference_
from ..models.depth_anything import build_depth_anything_v2_small
from ..models.inference import DepthEstimator
from ..models.student import StudentNet
from ..models.teacher_sim import TeacherSimNet

INPUT_HW = (160, 288)
ANCHOR_HW = (518, 924)
VIEWS = 6


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _mkldnn_conv_flops(x_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """``mkldnn._convolution_pointwise`` (X, W, B, ...) and its ``.binary`` form
    (X, other, W, B, ...): the fused convolutions of ``fast_inference.FusedConv``."""
    weight = b_shape if b_shape is not None and len(b_shape) == len(x_shape) else a_shape
    return conv_flop_count(x_shape, weight, out_shape, transposed=False)


def flop_counter() -> FlopCounterMode:
    """``FlopCounterMode`` that also counts the CPU flash-attention kernel (torch's registry
    covers the CUDA attention kernels only, so CPU runs would miss the attention matmuls)
    and the oneDNN fused convolutions the estimator runs (which torch's registry lacks)."""
    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = _cpu_sdpa_flops
    if POINTWISE_CONV_OP is not None:
        mapping[POINTWISE_CONV_OP] = _mkldnn_conv_flops
    return FlopCounterMode(display=False, custom_mapping=mapping)


def time_models(jobs: dict, rounds: int = 5, warmup: int = 1, count_flops: bool = True) -> dict:
    """Time several models round-robin (so a busy machine slows them alike).

    ``jobs``: ``name -> (model, images)``. Each round calls every model once; the first
    warm-up call of each counts its FLOPs. Returns per name: ``ms`` (median wall time per
    call), ``ms_min``, ``cpu_ms`` (median process CPU time, all threads), ``fps``,
    ``gflops``, ``runs``. ``rounds=0``: FLOPs only (one call each).
    """
    flops: dict = {}
    wall: dict = {name: [] for name in jobs}
    cpu: dict = {name: [] for name in jobs}
    for i in range(warmup + rounds):
        for name, (model, images) in jobs.items():
            device = images.device
            counting = count_flops and i == 0
            with torch.inference_mode(), _autocast(device):
                ctx = flop_counter() if counting else nullcontext()
                _sync(device)
                t, c = time.perf_counter(), time.process_time()
                with ctx as counter:
                    model(images)
                _sync(device)
                dt, dc = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
            if counting:
                flops[name] = counter.get_total_flops() / 1e9
            if i >= warmup:
                wall[name].append(dt)
                cpu[name].append(dc)
    out = {}
    for name in jobs:
        if not wall[name]:
            out[name] = {"ms": None, "ms_min": None, "cpu_ms": None, "fps": None,
                         "gflops": flops.get(name), "runs": 0}
            continue
        ms = statistics.median(wall[name])
        out[name] = {"ms": ms, "ms_min": min(wall[name]), "cpu_ms": statistics.median(cpu[name]),
                     "fps": 1e3 / ms, "gflops": flops.get(name), "runs": len(wall[name])}
    return out


def matmul_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 3) -> float:
    """This machine's dense matmul throughput (best of ``repeats``): fp32 on CPU, bf16 on CUDA."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = 8192 if device.type == "cuda" else n
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def student_peak_memory_mb(hw: tuple[int, int], device: torch.device) -> dict:
    """Peak memory of one student inference on a 6-view frame of ``hw``."""
    if device.type == "cuda":
        model = optimize_for_inference_(StudentNet().eval()).to(device)
        x = torch.rand(1, VIEWS, 3, *hw, device=device)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode(), _autocast(device):
            model(x)
        torch.cuda.synchronize()
        return {"peak_mb": (torch.cuda.max_memory_allocated(device) - base) / 2**20,
                "method": "torch.cuda.max_memory_allocated minus weights+input"}
    code = ("import sys, json; from fsmde_gui.evaluation.speed import _rss_probe; "
            f"print(json.dumps(_rss_probe({hw[0]}, {hw[1]}, {torch.get_num_threads()})))")
    # run in the folder that holds this fsmde_gui (the checkout, or site-packages for an
    # installed package): `python -c` puts its folder first on sys.path, so the child
    # imports this same package without touching PYTHONPATH
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=IMPORT_ROOT)
    if proc.returncode != 0:
        return {"peak_mb": None, "method": f"probe failed: {proc.stderr.strip()[-200:]}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["method"] = "peak RSS growth of a fresh process during one CPU inference"
    return out


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024  # bytes on macOS, KiB on Linux


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _rss_probe(h: int, w: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    model = optimize_for_inference_(StudentNet().eval())
    with torch.inference_mode():
        model(torch.rand(1, VIEWS, 3, 32, 64))  # initialise kernels/allocator with a tiny input
    x = torch.rand(1, VIEWS, 3, h, w)
    try:  # reset the peak-RSS mark (Linux >= 4.0), so the peak is this inference's own
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before, field = _status_mb("VmRSS"), "VmHWM"
    except OSError:
        before, field = _maxrss_mb(), None
    with torch.inference_mode():
        model(x)
    peak = _status_mb(field) if field else _maxrss_mb()
    return {"peak_mb": max(0.0, peak - before)}


def _count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def run_speed(quick: bool = True, device: Optional[str] = None,
              log: Callable[[str], None] = print, input_hw: tuple[int, int] = INPUT_HW,
              anchor_hw: tuple[int, int] = ANCHOR_HW, dav2_short_side: Optional[int] = None,
              anchor_short_side: int = 518, matmul_n: int = 2048) -> dict:
    """Run the comparison and return a JSON-able dict (``student_ms``, ``teacher_ms``,
    ``dav2_small_ms``, ``speedups``, ...). The size arguments exist for tests."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = dev.type == "cuda"
    full = gpu or not quick
    torch.manual_seed(0)
    if gpu:
        torch.backends.cudnn.benchmark = True
    # as DepthEstimator runs them: BatchNorm folded, channels-last
    student = optimize_for_inference_(StudentNet().eval()).to(dev)
    teacher = optimize_for_inference_(TeacherSimNet().eval()).to(dev)
    dav2 = build_depth_anything_v2_small(random=True).to(dev).eval()
    dav2_short = dav2_short_side or 168
    dav2.short_side = dav2_short
    rounds = 20 if gpu else (5 if full else 3)
    x = torch.rand(1, VIEWS, 3, *input_hw, device=dev)

    log(f"device {dev}, threads {torch.get_num_threads()}, mode {'full' if full else 'quick'}")

    rows = time_models({"student": (student, x), "teacher": (teacher, x),
                        "dav2_small": (dav2, x)}, rounds=rounds, warmup=1)
    for name, r in rows.items():
        log(f"  {name:<12}{r['ms']:9.1f} ms")

    anchor = _time_anchor(student, dav2, anchor_hw, anchor_short_side, dev, full,
                          rounds if gpu else 2, log)

    peak = matmul_peak_gflops(dev, n=matmul_n)
    s = rows["student"]
    achieved = s["gflops"] / (s["ms"] / 1e3)
    memory = student_peak_memory_mb(input_hw, dev)
    memory_anchor = student_peak_memory_mb(anchor_hw, dev) if full else {"peak_mb": None}
    params = {"student": _count_params(student), "teacher": _count_params(teacher),
              "dav2_small": _count_params(dav2)}
    result = {
        **_run_info(dev, full),
        "views": VIEWS,
        "input_hw": list(input_hw),
        "dav2_input_short_side": dav2_short,
        "anchor_hw": list(anchor_hw),
        "anchor_dav2_short_side": anchor_short_side,
        "student_ms": s["ms"],
        "teacher_ms": rows["teacher"]["ms"],
        "dav2_small_ms": rows["dav2_small"]["ms"],
        "fps": {k: r["fps"] for k, r in rows.items()},
        "ms_min": {k: r["ms_min"] for k, r in rows.items()},
        "cpu_ms": {k: r["cpu_ms"] for k, r in rows.items()},
        "cpu_utilisation": (s["cpu_ms"] / (s["ms"] * torch.get_num_threads())
                            if not gpu else None),
        "params": params,
        "gflops": {k: r["gflops"] for k, r in rows.items()},
        "speedups": _ratios_to_student(rows, anchor, "ms"),
        "flop_ratios": _ratios_to_student(rows, anchor, "gflops"),
        "anchor": _anchor_summary(anchor),
        "matmul_peak_gflops": peak,
        "student_gflops_per_s": achieved,
        "student_peak_fraction": achieved / peak,
        "student_peak_memory_mb": memory["peak_mb"],
        "student_peak_memory_method": memory["method"],
        "student_peak_memory_mb_anchor": memory_anchor["peak_mb"],
        "runs": {k: r["runs"] for k, r in rows.items()},
    }
    log(format_table(result))
    return result


def _ratio(a, b):
    return (a / b) if (a is not None and b) else None


def _run_info(dev: torch.device, full: bool) -> dict:
    """The run's setting: device name, dtype, threads, torch version, mode."""
    gpu = dev.type == "cuda"
    return {
        "device": (torch.cuda.get_device_name(dev) if gpu
                   else f"cpu ({platform.processor() or platform.machine()})"),
        "dtype": "bf16 autocast" if gpu else "float32",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mode": "full" if full else "quick",
    }


def _ratios_to_student(rows: dict, anchor: dict, key: str) -> dict:
    """``rows[model][key] / rows["student"][key]`` (``key``: ``ms`` for speed-ups, ``gflops``
    for FLOP ratios) for the teacher and DA-V2-Small, and DA-V2-Small at the anchor size."""
    s = rows["student"][key]
    return {"teacher_vs_student": _ratio(rows["teacher"][key], s),
            "dav2_small_vs_student": _ratio(rows["dav2_small"][key], s),
            "dav2_small_518_vs_student": _ratio(anchor["dav2_small"][key], s)}


def _time_anchor(student, dav2, anchor_hw, anchor_short_side: int, dev, full: bool,
                 rounds: int, log: Callable[[str], None]) -> dict:
    """Student (and, in full mode, DA-V2-Small) at DA-V2's own 518 px setting; in quick mode
    DA-V2's FLOPs only, counted on the meta device (too slow to time on a small CPU)."""
    xa = torch.rand(1, VIEWS, 3, *anchor_hw, device=dev)
    dav2.short_side = anchor_short_side
    anchor_jobs = {"student": (student, xa)}
    if full:
        anchor_jobs["dav2_small"] = (dav2, xa)
    anchor = time_models(anchor_jobs, rounds=rounds, warmup=1)
    if not full:
        meta_dav2 = build_depth_anything_v2_small(random=True, init="meta")
        meta_dav2.short_side = anchor_short_side
        anchor.update(time_models({"dav2_small": (meta_dav2, torch.empty(
            1, VIEWS, 3, *anchor_hw, device="meta"))}, rounds=0, warmup=1))
    for name, r in anchor.items():
        log(f"  anchor {name:<12}{r['ms'] if r['ms'] is not None else float('nan'):9.1f} ms")
    return anchor


def _anchor_summary(anchor: dict) -> dict:
    return {
        "student_ms": anchor["student"]["ms"],
        "student_gflops": anchor["student"]["gflops"],
        "dav2_small_ms": anchor["dav2_small"]["ms"],
        "student_ms_min": anchor["student"]["ms_min"],
        "dav2_small_gflops": anchor["dav2_small"]["gflops"],
        "dav2_small_vs_student": _ratio(anchor["dav2_small"]["ms"], anchor["student"]["ms"]),
        "reference_h100_bf16_ms": {"dav2_small": 18, "dav2_base": 30, "dav2_large": 66},
        "student_target_h100_ms": 3.0,
    }


def time_estimator(spec, rounds: int = 5, warmup: int = 1,
                   log: Callable[[str], None] = print) -> dict:
    """Time one student (a DepthEstimator, or a name, checkpoint or ``onnx:FILE`` for ONNX
    Runtime) on a 6-view frame at its input size (the model call only, as :func:`time_models`)."""
    est = spec if isinstance(spec, DepthEstimator) else DepthEstimator.from_name(str(spec))
    spec = spec.name if isinstance(spec, DepthEstimator) else spec
    w, h = est.input_size or (INPUT_HW[1], INPUT_HW[0])
    x = torch.rand(1, VIEWS, 3, h, w, device=est.device)
    r = time_models({"model": (est.model, x)}, rounds=rounds, warmup=warmup,
                    count_flops=False)["model"]
    onnx = est.meta.get("backend") == "onnxruntime"
    row = {"name": str(spec), "backend": "onnxruntime" if onnx else "torch",
           "providers": est.meta.get("providers") if onnx else None,
           "device": str(est.device), "input_hw": [h, w], "ms": r["ms"], "ms_min": r["ms_min"],
           "fps": r["fps"], "params": est.num_parameters, "runs": r["runs"]}
    detail = ", ".join(row["providers"]) if onnx else row["device"]
    log(f"  {spec} ({row['backend']}, {detail}): {r['ms']:.1f} ms per 6-view {h}x{w} frame")
    return row


def format_table(r: dict) -> str:
    def f(v, spec):
        return format(v, spec) if v is not None else "-"

    lines = [f"speed: {r['views']} views, {r['input_hw'][0]}x{r['input_hw'][1]} input, "
             f"{r['device']}, {r['dtype']}, {r['threads']} threads ({r['mode']})",
             f"{'model':<12}{'params (M)':>11}{'GFLOPs':>9}{'ms/frame':>10}{'frames/s':>10}"
             f"{'x student':>10}"]
    for key in ("student", "teacher", "dav2_small"):
        ms = r[f"{key}_ms"]
        lines.append(f"{key:<12}{r['params'][key] / 1e6:>11.2f}{f(r['gflops'][key], '.1f'):>9}"
                     f"{f(ms, '.1f'):>10}{f(r['fps'][key], '.2f'):>10}"
                     f"{f(ms / r['student_ms'] if ms else None, '.1f'):>10}")
    a = r["anchor"]
    lines.append(f"anchor {r['anchor_hw'][0]}x{r['anchor_hw'][1]}: student {f(a['student_ms'], '.1f')}"
                 f" ms ({f(a['student_gflops'], '.1f')} GFLOPs), DA-V2-S "
                 f"{f(a['dav2_small_ms'], '.1f')} ms ({f(a['dav2_small_gflops'], '.0f')} GFLOPs)"
                 f"{'' if a['dav2_small_ms'] is not None else ' (not timed: --full)'}")
    sp, fr = r["speedups"], r["flop_ratios"]
    lines.append(f"DA-V2-S at 518 px vs student at its input: "
                 f"{f(sp['dav2_small_518_vs_student'], '.0f')}x time, "
                 f"{f(fr['dav2_small_518_vs_student'], '.0f')}x FLOPs; equal resolution: "
                 f"{f(sp['dav2_small_vs_student'], '.1f')}x time, "
                 f"{f(fr['dav2_small_vs_student'], '.1f')}x FLOPs")
    util = r.get("cpu_utilisation")
    if util is not None and util < 0.6:
        lines.append(f"note: the CPU was busy (the student got {100 * util:.0f}% of "
                     f"{r['threads']} threads): wall times are inflated; see cpu_ms / ms_min")
    lines.append(f"student: {r['student_gflops_per_s']:.1f} GFLOP/s = "
                 f"{100 * r['student_peak_fraction']:.1f}% of matmul peak "
                 f"{r['matmul_peak_gflops']:.0f} GFLOP/s; peak memory "
                 f"{f(r['student_peak_memory_mb'], '.0f')} MB")
    return "\n".join(lines)
