"""`fsmde models`: build the shipped checkpoints (models/<name>.pt + model cards).

    fsmde models --out models                      # everything (make models)
    fsmde models --out models --only student_kd    # one model (its teacher must exist)
    fsmde models --out models --only student_kd_real --real-data DIR/nuscenes-scene-0916
    fsmde models --list
"""
from __future__ import annotations

from ..core.errors import FsmdeError
from ..training.model_zoo import build_all, specs


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="train + evaluate the shipped models (models/*.pt)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--out", default="models", help="output folder for .pt + .json cards")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="build only these")
    p.add_argument("--data", default="data", help="folder for generated simulator presets")
    p.add_argument("--runs", default="runs/models", help="folder for training runs")
    p.add_argument("--steps-scale", type=float, default=1.0,
                   help="multiply every spec's steps (e.g. 0.1 for a quick smoke build)")
    p.add_argument("--eval-only", action="store_true",
                   help="only re-evaluate existing models/<name>.pt and update their cards")
    p.add_argument("--real-data", default=None, metavar="DIR",
                   help="real nuScenes folder for the specs fine-tuned on real data "
                        "(student_kd_real); without it `fsmde models` skips them")
    p.add_argument("--list", action="store_true", help="list the specs and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.list:
        for s in specs():
            dep = f" (teacher: {s.depends_on})" if s.depends_on else ""
            data = "<real-data>" if s.real_data else s.preset
            print(f"{s.name:<24} recipe={s.recipe:<12} data={data:<8} "
                  f"steps={s.config.get('steps')}{dep}")
        return 0
    if not 0 < args.steps_scale <= 100:  # NaN fails too
        raise FsmdeError(f"--steps-scale {args.steps_scale:g}: must be a factor, "
                         "0 < scale <= 100")
    build_all(args.out, args.only, args.data, args.runs, steps_scale=args.steps_scale,
              eval_only=args.eval_only, real_data=args.real_data)
    return 0
