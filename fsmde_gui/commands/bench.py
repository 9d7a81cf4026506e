"""`fsmde bench speed`: student vs bundled teacher vs Depth Anything V2-Small, one process.

    fsmde bench speed --json out/speed.json          # quick: < 1 min on a 2-core CPU
    fsmde bench speed --full --json out/speed.json   # DA-V2 at its real 518 px setting too
    fsmde bench speed --student onnx:out/student_kd.onnx   # + a given student (ONNX Runtime)

Prints a table (ms per 6-view frame, frames/s, parameters, GFLOPs, speed-ups, the student's
share of the matmul peak and its peak memory) and writes the figures as JSON. Any other name
runs ``benchmarks/bench_<name>.py`` from a source checkout.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..core.atomic_io import atomic_write_json
from ..core.errors import FsmdeError
from ..models.inference import DepthEstimator, apply_thread_setting
from ..models import speed
from ..paths import BENCHMARKS_DIR, PROJECT_ROOT



def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed benchmark (student vs teacher vs DA-V2-Small)",
                              description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", default="speed",
                   help="benchmark: speed (built in) or NAME of benchmarks/bench_NAME.py")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--full", action="store_true",
                   help="also time DA-V2-Small at 518 px on the CPU (minutes on a small CPU)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"),
                   help="default: cuda when available, else cpu")
    p.add_argument("--student", default=None,
                   help="speed: also time this student (name, checkpoint, or onnx:FILE.onnx "
                        "for ONNX Runtime) at its input size")
    p.set_defaults(func=run)


def write_json_atomic(path: str | Path, data: dict) -> Path:
    return atomic_write_json(path, data, default=float)


def run(args) -> int:
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise FsmdeError("--device cuda: no CUDA device is available")
    apply_thread_setting()
    if args.name == "speed":
        student = None
        if getattr(args, "student", None):  # load first: a bad name fails before the bench
            student = DepthEstimator.from_name(args.student, device=args.device, role="student")
        result = speed.run_speed(quick=not args.full, device=args.device)
        if student is not None:
            result["student_model"] = speed.time_estimator(student)
    else:
        if str(PROJECT_ROOT) not in sys.path:  # benchmarks/ lives in the source checkout
            sys.path.insert(0, str(PROJECT_ROOT))
        try:
            module = importlib.import_module(f"benchmarks.bench_{args.name}")
        except ModuleNotFoundError as exc:
            raise FsmdeError(f"unknown benchmark {args.name!r} (no benchmarks/bench_{args.name}.py)"
                             ) from exc
        out_dir = Path(args.json).parent if args.json else BENCHMARKS_DIR / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        result = module.main(out_dir)
    if args.json:
        print(f"wrote {write_json_atomic(args.json, result)}")
    return 0
