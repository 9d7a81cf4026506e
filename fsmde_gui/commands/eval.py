"""`fsmde eval`: P1 metrics per camera and overall (LiDAR GT, depth cap) + cross-view consistency.

    fsmde eval --dataset resources/nuscenes-keyframe --student models/student_kd.pt \
        --teacher teacher_sim --max-depth 80 --json out/eval.json

A progress bar is drawn on stderr (one line, redrawn; ``--no-progress`` hides it). On data
with 3D boxes the error by object class is printed and written as ``per_category``.
"""
from __future__ import annotations

import warnings

from ..core.errors import FsmdeError
from ..data.detect import open_dataset
from ..evaluation.evaluate import evaluate_dataset, format_table, load_estimator, write_json
from .dataset_args import add_dataset_options, dataset_options
from .progress import ProgressBar
from ..core.types import MAX_DEPTH_M


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate depth models on a dataset (AbsRel, RMSE, δ, consistency)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="dataset folder (nuScenes, DDAD, simulator)")
    p.add_argument("--student", default=None, help="student checkpoint path or model name")
    p.add_argument("--teacher", default=None,
                   help="teacher checkpoint path or model name (aligned to GT per image)")
    p.add_argument("--max-depth", type=float, default=MAX_DEPTH_M, help="depth cap in metres (80 nuScenes)")
    p.add_argument("--first-frame", type=int, default=0,
                   help="skip the frames before this index (e.g. a validation split at the end "
                        "of a scene whose first frames trained the model)")
    p.add_argument("--max-frames", type=int, default=0, help="evaluate only the first N frames")
    p.add_argument("--frame-stride", type=int, default=1,
                   help="evaluate every K-th frame (consecutive frames are near-duplicates)")
    p.add_argument("--no-consistency", action="store_true", help="skip cross-view consistency")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_dataset_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.student and not args.teacher:
        raise FsmdeError("fsmde eval needs --student and/or --teacher")
    if not 0 < args.max_depth <= 1000:  # NaN fails too
        raise FsmdeError(f"--max-depth {args.max_depth:g}: must be a depth cap in metres, "
                         "0 < cap <= 1000")
    if args.max_frames < 0:
        raise FsmdeError(f"--max-frames {args.max_frames}: must be >= 0 (0 = all frames)")
    if args.first_frame < 0:
        raise FsmdeError(f"--first-frame {args.first_frame}: must be >= 0")
    if args.frame_stride < 1:
        raise FsmdeError(f"--frame-stride must be >= 1, got {args.frame_stride}")
    dataset = open_dataset(args.dataset, **dataset_options(args))
    if args.first_frame >= len(dataset):
        raise FsmdeError(f"--first-frame {args.first_frame}: {args.dataset} has {len(dataset)} "
                         f"frame(s), numbered 0..{len(dataset) - 1} across its scenes")
    estimators = {role: load_estimator(name, role=role)  # a wrong model fails before any eval
                  for role, name in (("student", args.student), ("teacher", args.teacher))
                  if name}
    results = {}
    for role, name in (("student", args.student), ("teacher", args.teacher)):
        if not name:
            continue
        est = estimators[role]
        bar = None if args.no_progress else ProgressBar(f"eval {role}")
        try:
            with warnings.catch_warnings():
                # a camera pair without overlap matches in any frame has no consistency
                # figure: NaN by design (null in the JSON), not a warning on stderr
                warnings.filterwarnings("ignore", message="Mean of empty slice",
                                        category=RuntimeWarning)
                res = evaluate_dataset(dataset, est, max_depth=args.max_depth,
                                       max_frames=args.max_frames, first_frame=args.first_frame,
                                       consistency=not args.no_consistency,
                                       frame_stride=args.frame_stride, progress=bar)
        except BaseException:
            if bar is not None:
                bar.close(erase=True)  # the error line takes the bar's place
            raise
        if bar is not None:
            bar.close()
        res["model"] = str(name)
        res["role"] = role
        print(format_table(res, f"{role}: {name} on {args.dataset} "
                                f"({res['frames']} frames, cap {args.max_depth:g} m)"))
        print()
        results[role] = res
    # top level = the student's figures (or the teacher's when only a teacher is given)
    main_role = "student" if "student" in results else "teacher"
    out = dict(results[main_role])
    out["dataset"] = str(args.dataset)
    if main_role == "student" and "teacher" in results:
        out["teacher"] = results["teacher"]
    if args.json:
        print(f"wrote {write_json(args.json, out)}")
    return 0
