"""`fsmde bench speed`: the student vs Depth Anything V2-Small, torch eager vs ONNX Runtime.

One process, one random 6-view frame at the student's shipped input size (DA-V2-Small gets
the same frame, resized by itself to the nearest multiple of its 14-px patches: the same
pixel count within a few per cent). Candidates: {student, DA-V2-Small} x {torch eager, ONNX
Runtime} x {1, 2} intra-op threads (``torch.set_num_threads`` / ``intra_op_num_threads``).
The student judged is the deployment student (``student_kd_lite``); the previous student
(``student_kd``, the reference) gets the same rows beside it, so that one run shows what the
lite architecture buys (rows ``reference_student``; not judged).
Both models are exported to temp ``.onnx`` files here (the student through ``export-model``'s
own path, DA-V2-Small by ``torch.onnx.export``; an export that fails is a row saying so).
DA-V2-Small has random weights (its real architecture and size; speed does not depend on the
values; nothing is downloaded).

Timing: after a warm-up turn each, the candidates run interleaved (A B C ... A B C ...),
``rounds`` turns, and each row is the median, so that load on a shared machine hits all
alike; the 1-minute load average is printed with the table. A turn starts on an idle CPU (a
5 ms pause, not timed, lets the previous candidate's threads stop busy-waiting: torch's
OpenMP workers spin a few ms after each call, ONNX Runtime's only inside a run; on 2 cores
that spinning took a core from the next candidate) and makes two calls back to back: the
row's figure is the second (steady state, as a model runs frame after frame), the first is
printed beside it as ``cold ms`` (its caches taken by the candidates before it), with the
speed-up the cold calls give (not judged). Then the rows
the deployment targets ask for: each model in its fastest backend here, the student's wall-
time speed-up (target >= 20x) and that speed-up over the FLOP ratio (target >= 0.7), and
ONNX Runtime vs torch max |depth| difference of the shipped student on the bundled real
nuScenes keyframe (target <= 1 cm).

On CUDA (when present, never required) the torch candidates run in bf16 autocast and ONNX
Runtime uses its CUDA / TensorRT providers when installed; thread counts do not apply.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import FsmdeError
from ..models.depth_anything import build_depth_anything_v2_small, resize_to_patch_multiple
from ..models.inference import DepthEstimator
from ..models.onnx_export import compare_on_frame, export_student_onnx, quiet_exporter
from ..models.onnx_runtime import (OnnxStudentModel, _first_line, default_providers, require,
                                   session_options)
from .check_frames import check_frame
from .speed import flop_counter

VIEWS = 6
DEPLOY_STUDENT = "student_kd_lite"
REFERENCE_STUDENT = "student_kd"
TARGET_SPEEDUP = 20.0
TARGET_EFFICIENCY = 0.7
TARGET_ONNX_DIFF_M = 0.01


def load_average() -> Optional[float]:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


class _DAV2Graph(nn.Module):
    """DA-V2 as exported: ``images (1, 6, 3, H, W)`` -> ``relative (1, 6, 1, H, W)``."""

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.teacher = teacher

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.teacher(images)["relative"]


def export_dav2_onnx(teacher: nn.Module, images: torch.Tensor, path: Path) -> Path:
    """Export DA-V2 for a fixed input shape with ``torch.onnx.export`` (dynamo, opset 18)."""
    require("onnxscript", path)
    with quiet_exporter():
        program = torch.onnx.export(_DAV2Graph(teacher).eval(), (images,), dynamo=True,
                                    opset_version=18, input_names=["images"],
                                    output_names=["relative"], optimize=True,
                                    verbose=False, report=False)
    program.save(str(path))
    return path


class _OrtRunner:
    """A plain ONNX Runtime session called like a model (DA-V2's exported graph)."""

    def __init__(self, path: Path, threads: Optional[int], providers: Sequence[str]):
        ort = require("onnxruntime", path)
        self.session = ort.InferenceSession(str(path), session_options(ort, threads),
                                            providers=list(providers))
        self.name = self.session.get_inputs()[0].name

    def __call__(self, images: torch.Tensor):
        return self.session.run(None, {self.name: images.detach().cpu().numpy()})[0]


def _torch_runner(model: nn.Module, threads: Optional[int], device: torch.device):
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else nullcontext())

    def run(images):
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.inference_mode(), autocast:
            out = model(images)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out
    return run


CALLS_PER_TURN = 2
"""Calls per candidate and turn: the first is cold (the other candidates ran just before and
took the caches: the student's 2-thread ONNX Runtime call 8.3 ms here), the last is timed as
the row's figure (7.2 ms: the steady state of a model that runs frame after frame, which is
how a deployed student runs; DA-V2-Small's weights do not fit in cache either way)."""

IDLE_GAP_S = 0.005
"""Pause before each timed call, so that it starts on an idle CPU: torch's OpenMP workers
busy-wait a few ms after each parallel region (measured here: 2.5-4 ms of CPU per call), and
on 2 cores that spinning took one core from whichever candidate ran next (the ONNX Runtime
student right after a torch call: 10.3 ms instead of 7.0). Short on purpose: after pauses of
20 ms and more the idle CPU came back slowly (runs up to 2x slower, every other call)."""


def time_interleaved(candidates: dict, images: dict, rounds: int, warmup: int = 1,
                     gap_s: float = IDLE_GAP_S, calls: int = CALLS_PER_TURN) -> dict:
    """``candidates``: name -> callable(images[name]); A B C ... A B C ..., ``rounds`` turns
    each after ``warmup`` untimed ones. A turn starts after ``gap_s`` seconds of idling (not
    timed) and runs the candidate ``calls`` times back to back: ``ms`` / ``ms_min`` are the
    median / fastest of the last call of each turn (steady state: the model's weights and
    buffers in cache, as in a stream of frames), ``cold_ms`` the median of the first (right
    after the other candidates ran; equal to ``ms`` when ``calls`` is 1)."""
    calls = max(1, int(calls))
    first: dict = {name: [] for name in candidates}
    last: dict = {name: [] for name in candidates}
    for i in range(warmup + rounds):
        for name, run in candidates.items():
            if gap_s > 0:
                time.sleep(gap_s)
            for c in range(calls):
                t = time.perf_counter()
                run(images[name])
                dt = (time.perf_counter() - t) * 1e3
                if i >= warmup and c == 0:
                    first[name].append(dt)
                if i >= warmup and c == calls - 1:
                    last[name].append(dt)
    return {name: {"ms": statistics.median(v), "ms_min": min(v), "runs": len(v),
                   "cold_ms": statistics.median(first[name])}
            for name, v in last.items() if v}


def _gflops(model: nn.Module, images: torch.Tensor) -> float:
    with torch.inference_mode(), flop_counter() as counter:
        model(images)
    return counter.get_total_flops() / 1e9


def run_backends(student: str = DEPLOY_STUDENT, threads: Sequence[int] = (1, 2),
                 rounds: int = 3, device: Optional[str] = None,
                 input_size: Optional[tuple[int, int]] = None,
                 log: Callable[[str], None] = print, dav2: Optional[nn.Module] = None,
                 reference: Optional[str] = REFERENCE_STUDENT) -> dict:
    """Run the comparison; returns a JSON-able dict (``rows``, ``fastest``, ``targets``,
    ``onnx_vs_torch_keyframe_m``, ``load_average``...). ``input_size`` (W, H): default the
    student's. ``dav2``: a prebuilt DA-V2 teacher (tests pass a tiny one). ``reference``: a
    second student timed beside the first at the same input (rows ``reference_student``,
    not judged); None or the student itself: none."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ort, providers, threads = _backend_options(student, threads, gpu=dev.type == "cuda")
    torch_threads = torch.get_num_threads()
    load_start = load_average()
    t_start = time.perf_counter()
    est = DepthEstimator.from_name(student, device=str(dev))
    ref_est = (DepthEstimator.from_name(reference, device=str(dev), role="student")
               if reference and str(reference) != str(student) else None)
    w, h = input_size or est.input_size
    torch.manual_seed(0)
    x = torch.rand(1, VIEWS, 3, h, w, device=dev)
    teacher, dav2_hw = _prepare_dav2(dav2, dev, h, w)
    gflops = {"student": _gflops(est.model, x), "dav2_small": _gflops(teacher, x)}
    if ref_est is not None:
        gflops["reference_student"] = _gflops(ref_est.model, x)
    runners: dict = {}
    notes: dict = {}
    with tempfile.TemporaryDirectory(prefix="fsmde-bench-") as tmp:
        s_path, report, d_path, d_error, export_s, (frame, frame_name) = _export_both(
            student, teacher, x, (w, h), dev, Path(tmp))
        r_path = (export_student_onnx(reference, Path(tmp) / "reference.onnx",
                                      input_size=(w, h), check=(frame, frame_name))[0]
                  if ref_est is not None else None)
        cpu_est = est if dev.type == "cpu" else DepthEstimator.from_name(student, device="cpu")
        keyframe = compare_on_frame(cpu_est,
                                    DepthEstimator.from_onnx(s_path, providers=providers),
                                    frame)
        tag, d_error = _build_runners(runners, notes, threads, est.model, teacher, s_path,
                                      d_path, d_error, providers, dev)
        for n in threads if ref_est is not None else ():
            _add_student_runners(runners, "reference_student", _thread_tag(n), ref_est.model,
                                 r_path, n, providers, dev)
        if d_error is None:
            want = runners[("dav2_small", "torch", tag)](x)["relative"].float().cpu().numpy()
            got = runners[("dav2_small", "onnxruntime", tag)](x)
            notes["dav2_onnx_max_abs_rel"] = float(np.abs(np.asarray(got) - want).max())
        names = {k: " / ".join(k) for k in runners}
        timed = time_interleaved({names[k]: r for k, r in runners.items()},
                                 {names[k]: x for k in runners}, rounds=rounds)
    torch.set_num_threads(torch_threads)
    rows = _rows(names, timed, notes, gflops, [h, w], list(dav2_hw),
                 {"student": Path(str(student)).stem, "dav2_small": "DA-V2-Small",
                  "reference_student": Path(str(reference)).stem if ref_est is not None else ""})
    fastest, speedup, flop_ratio = _fastest(rows, gflops)
    result = {
        "device": str(dev), "providers": providers, "torch": torch.__version__,
        "onnxruntime": ort.__version__, "student": student, "views": VIEWS,
        "reference_student": reference if ref_est is not None else None,
        "input_hw": [h, w], "dav2_input_hw": list(dav2_hw), "rounds": rounds,
        "calls_per_turn": CALLS_PER_TURN,
        "rows": rows, "gflops": gflops,
        "fastest": {m: f"{r['backend']}, {r['threads']}" for m, r in fastest.items()},
        "speedup": speedup, "flop_ratio": flop_ratio, "efficiency": speedup / flop_ratio,
        "onnx_vs_torch_keyframe_m": keyframe["depth"], "keyframe": frame_name,
        "student_export_check_m": report["max_abs_depth_m"],
        "dav2_onnx_max_abs_relative": notes.get("dav2_onnx_max_abs_rel"),
        "export_s": export_s, "load_average": {"start": load_start, "end": load_average()},
        "cpu_count": os.cpu_count(), "wall_s": time.perf_counter() - t_start,
    }
    _add_judgement(result, rows, gflops, fastest)
    log(format_backends(result))
    return result


def _add_judgement(result: dict, rows: dict, gflops: dict, fastest: dict) -> None:
    """The reference student's speed-up, the cold calls' speed-up (not judged) and the
    targets, added to ``result``."""
    if "reference_student" in gflops:
        ref_ms = [r["ms"] for r in rows.values() if r["model"] == "reference_student" and r["ms"]]
        result["reference_speedup"] = min(ref_ms) / fastest["student"]["ms"]
    cold, cold_speedup, flop_ratio = _fastest(rows, gflops, key="cold_ms")
    result["cold"] = {"fastest": {m: f"{r['backend']}, {r['threads']}" for m, r in cold.items()},
                      "speedup": cold_speedup, "efficiency": cold_speedup / flop_ratio}
    result["targets"] = {
        "speedup_ge_20x": result["speedup"] >= TARGET_SPEEDUP,
        "efficiency_ge_0.7": result["efficiency"] >= TARGET_EFFICIENCY,
        "onnx_diff_le_1cm": result["onnx_vs_torch_keyframe_m"] <= TARGET_ONNX_DIFF_M}


def _backend_options(student: str, threads: Sequence[int], gpu: bool):
    """``(onnxruntime, providers, thread counts)``: the CPU provider and the given counts on
    a CPU, the best providers and one ``None`` count (threads do not apply) on a GPU."""
    ort = require("onnxruntime", student)
    providers = default_providers(ort.get_available_providers())
    if not gpu:
        providers = ["CPUExecutionProvider"]
    threads = [None] if gpu else [int(t) for t in threads]
    if any(t is not None and t < 1 for t in threads):
        raise FsmdeError(f"--threads must be positive integers, got {threads}")
    return ort, providers, threads


def _prepare_dav2(dav2: Optional[nn.Module], dev: torch.device, h: int, w: int):
    """``(DA-V2 teacher on dev, its input (H, W))``: random-weight DA-V2-Small unless given,
    run at short side ``min(h, w)``, depth only (no hidden states), as exported."""
    teacher = dav2 if dav2 is not None else build_depth_anything_v2_small(random=True)
    teacher = teacher.to(dev).eval()
    teacher.short_side = min(h, w)
    teacher.feature_layers = []  # depth only (no hidden states), as exported
    return teacher, resize_to_patch_multiple(h, w, teacher.short_side, teacher.patch_size)


def _export_both(student: str, teacher: nn.Module, x: torch.Tensor,
                 input_wh: tuple[int, int], dev: torch.device, tmp: Path):
    """Export the student (through ``export-model``'s path, checked on the keyframe) and
    DA-V2 into ``tmp``. Returns ``(student path, export report, DA-V2 path, DA-V2 error or
    None, export seconds, (check frame, its name))``; a DA-V2 export that fails is an error
    for its rows, not an exception."""
    t = time.perf_counter()
    check = check_frame()
    s_path, report = export_student_onnx(student, tmp / "student.onnx", input_size=input_wh,
                                         check=check)
    export_s = {"student": time.perf_counter() - t}
    t = time.perf_counter()
    d_path, d_error = tmp / "dav2_small.onnx", None
    try:
        export_dav2_onnx(teacher.cpu(), x.cpu(), d_path)
    except Exception as exc:  # exporter errors come in many types: reported as a row
        d_error = f"export failed: {type(exc).__name__}: {_first_line(exc)}"
    teacher.to(dev)
    export_s["dav2_small"] = time.perf_counter() - t
    return s_path, report, d_path, d_error, export_s, check


def _fastest(rows: dict, gflops: dict, key: str = "ms"):
    """``(fastest row per model, student speed-up over DA-V2 (fastest each), FLOP ratio)``,
    by the rows' ``key`` (``ms``: steady state; ``cold_ms``: first call of each turn)."""
    fastest = {m: min((r for r in rows.values() if r["model"] == m and r.get(key)),
                      key=lambda r: r[key]) for m in ("student", "dav2_small")}
    speedup = fastest["dav2_small"][key] / fastest["student"][key]
    return fastest, speedup, gflops["dav2_small"] / gflops["student"]


def _build_runners(runners: dict, notes: dict, threads, student: nn.Module, teacher: nn.Module,
                   s_path: Path, d_path: Path, d_error: Optional[str], providers, dev):
    """Fill ``runners`` (model, backend, threads) -> callable; a DA-V2 ONNX graph that cannot
    be exported or loaded becomes a note for its rows. Returns (last tag, DA-V2 error)."""
    tag = None
    for n in threads:
        tag = _thread_tag(n)
        _add_student_runners(runners, "student", tag, student, s_path, n, providers, dev)
        runners[("dav2_small", "torch", tag)] = _torch_runner(teacher, n, dev)
        if d_error is None:
            try:
                runners[("dav2_small", "onnxruntime", tag)] = _OrtRunner(d_path, n, providers)
            except Exception as exc:  # a graph ORT cannot load: say so in the row
                d_error = f"ONNX Runtime cannot load it: {_first_line(exc)}"
        if d_error is not None:
            notes[("dav2_small", "onnxruntime", tag)] = d_error
    return tag, d_error


def _thread_tag(n: Optional[int]) -> str:
    return f"{n} thread{'s' if n != 1 else ''}" if n else "gpu"


def _add_student_runners(runners: dict, role: str, tag: str, model: nn.Module, path: Path,
                         threads: Optional[int], providers, dev) -> None:
    """A student's two candidates (torch eager, ONNX Runtime) under ``(role, backend, tag)``."""
    runners[(role, "torch", tag)] = _torch_runner(model, threads, dev)
    runners[(role, "onnxruntime", tag)] = OnnxStudentModel(
        path, providers=providers, threads=threads)


def _rows(names: dict, timed: dict, notes: dict, gflops: dict, student_hw: list,
          dav2_hw: list, labels: dict) -> dict:
    """One row per candidate: timings, or the note saying why it has none. ``labels``:
    role (student, reference_student, dav2_small) -> the name the table prints."""
    rows = {}
    for key, name in names.items():
        model, backend, tag = key
        rows[name] = {"model": model, "name": labels[model], "backend": backend,
                      "threads": tag,
                      "input_hw": dav2_hw if model == "dav2_small" else student_hw,
                      "gflops": gflops[model], **timed[name]}
    for key, note in notes.items():
        if isinstance(key, tuple):
            rows[" / ".join(key)] = {"model": key[0], "name": labels[key[0]],
                                     "backend": key[1], "threads": key[2],
                                     "ms": None, "error": note, "gflops": gflops[key[0]]}
    return rows


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def format_backends(r: dict) -> str:
    la = r["load_average"]
    h, w = r["input_hw"]
    dh, dw = r["dav2_input_hw"]
    lines = [f"speed: 6 views, student {h}x{w} ({h * w} px/view), DA-V2-Small {dh}x{dw} "
             f"({dh * dw} px/view), {r['device']}, median of {r['rounds']} interleaved turns "
             f"({r['calls_per_turn']} calls each, the last timed; cold ms: the first); "
             f"load average (1 min) {la['start']:.2f} -> {la['end']:.2f} on "
             f"{r['cpu_count']} CPUs",
             f"{'model':<17}{'backend':<13}{'threads':<11}{'GFLOPs':>8}{'ms/frame':>10}"
             f"{'min ms':>9}{'GFLOP/s':>9}{'cold ms':>9}"]
    for row in r["rows"].values():
        if row["ms"] is None:
            lines.append(f"{row['name']:<17}{row['backend']:<13}{row['threads']:<11}"
                         f"{row['gflops']:>8.1f}  {row['error']}")
            continue
        lines.append(f"{row['name']:<17}{row['backend']:<13}{row['threads']:<11}"
                     f"{row['gflops']:>8.1f}{row['ms']:>10.1f}{row['ms_min']:>9.1f}"
                     f"{row['gflops'] / row['ms'] * 1e3:>9.1f}"
                     f"{row.get('cold_ms', row['ms']):>9.1f}")
    t = r["targets"]
    lines += [
        f"fastest here: student {r['fastest']['student']}, DA-V2-Small "
        f"{r['fastest']['dav2_small']}",
        f"speed-up student vs DA-V2-Small (fastest each): {r['speedup']:.1f}x "
        f"(target >= {TARGET_SPEEDUP:.0f}x: {_met(t['speedup_ge_20x'])})",
        f"FLOP ratio {r['flop_ratio']:.1f}x; speed-up / FLOP ratio {r['efficiency']:.2f} "
        f"(target >= {TARGET_EFFICIENCY}: {_met(t['efficiency_ge_0.7'])})",
        f"ONNX Runtime vs torch, {r['student']} on {Path(r['keyframe']).name}: max |depth "
        f"diff| {r['onnx_vs_torch_keyframe_m'] * 100:.4f} cm (target <= 1 cm: "
        f"{_met(t['onnx_diff_le_1cm'])})"]
    if r.get("cold"):
        lines.append(f"cold calls (first of each turn, not judged): fastest student "
                     f"{r['cold']['fastest']['student']}, DA-V2-Small "
                     f"{r['cold']['fastest']['dav2_small']}: {r['cold']['speedup']:.1f}x, "
                     f"speed-up / FLOP ratio {r['cold']['efficiency']:.2f}")
    if r.get("reference_speedup"):
        lines.append(f"{Path(str(r['student'])).stem} vs {Path(str(r['reference_student'])).stem}"
                     f" (fastest each): {r['reference_speedup']:.2f}x faster, "
                     f"{r['gflops']['reference_student'] / r['gflops']['student']:.2f}x "
                     f"fewer FLOPs (reference only, not judged)")
    if r.get("dav2_onnx_max_abs_relative") is not None:
        lines.append(f"DA-V2-Small ONNX vs torch: max |relative diff| "
                     f"{r['dav2_onnx_max_abs_relative']:.2e}")
    lines.append(f"exports: student {r['export_s']['student']:.0f} s, DA-V2-Small "
                 f"{r['export_s']['dav2_small']:.0f} s; whole run {r['wall_s']:.0f} s")
    return "\n".join(lines)
