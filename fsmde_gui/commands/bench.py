"""`fsmde bench speed`: student vs Depth Anything V2-Small, torch eager vs ONNX Runtime.

    fsmde bench speed --json out/speed.json          # ~2 min on a 2-core CPU
    fsmde bench speed --models                       # + the teacher / 518 px / memory table
    fsmde bench speed --full --json out/speed.json   # that table with DA-V2 timed at 518 px
    fsmde bench speed --student onnx:out/student_kd.onnx   # + a given student (ONNX Runtime)

Prints ms per 6-view frame of the shipped student and DA-V2-Small, each in torch eager and
in ONNX Runtime at 1 and 2 threads (interleaved runs, medians, with the load average), the
speed-up of the student in its fastest backend and its ratio to the FLOP ratio, and ONNX
Runtime vs torch depth on the real keyframe; writes the figures as JSON. Any other name runs
``benchmarks/bench_<name>.py`` from a source checkout.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..core.atomic_io import atomic_write_json
from ..core.errors import FsmdeError
from ..evaluation import backend_speed, speed
from ..models.inference import DepthEstimator, apply_thread_setting
from ..paths import BENCHMARKS_DIR, PROJECT_ROOT


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed benchmark (student vs DA-V2-Small, torch "
                                            "vs ONNX Runtime)",
                              description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", default="speed",
                   help="benchmark: speed (built in) or NAME of benchmarks/bench_NAME.py")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--threads", default="1,2",
                   help="speed: comma-separated intra-op thread counts to compare (default 1,2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="speed: interleaved timed runs per candidate (median; default 3)")
    p.add_argument("--models", action="store_true",
                   help="speed: also the model table (bundled teacher, 518 px anchor, memory)")
    p.add_argument("--full", action="store_true",
                   help="speed: the model table with DA-V2-Small timed at 518 px on the CPU "
                        "(minutes on a small CPU; implies --models)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"),
                   help="default: cuda when available, else cpu")
    p.add_argument("--student", default=None,
                   help="speed: also time this student (name, checkpoint, or onnx:FILE.onnx "
                        "for ONNX Runtime) at its input size")
    p.set_defaults(func=run)


def write_json_atomic(path: str | Path, data: dict) -> Path:
    return atomic_write_json(path, data, default=float)


def _threads(text: str) -> list[int]:
    try:
        values = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise FsmdeError(f"--threads must be positive integers like 1,2; got {text!r}")
    return values


def run(args) -> int:
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise FsmdeError("--device cuda: no CUDA device is available")
    apply_thread_setting()
    if args.name == "speed":
        threads = _threads(getattr(args, "threads", "1,2"))
        rounds = int(getattr(args, "rounds", 3))
        if rounds < 1:
            raise FsmdeError(f"--rounds must be >= 1, got {rounds}")
        student = None
        if getattr(args, "student", None):  # load first: a bad name fails before the bench
            student = DepthEstimator.from_name(args.student, device=args.device, role="student")
        result = backend_speed.run_backends(threads=threads, rounds=rounds, device=args.device)
        if args.full or getattr(args, "models", False):
            result["models"] = speed.run_speed(quick=not args.full, device=args.device)
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
