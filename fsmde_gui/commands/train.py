"""`fsmde train`: train a model with a recipe (supervised, kd, teacher, plug-ins).

    fsmde train --recipe kd --config cfg.yaml --set steps=500 --set ckd_weight=0 --out runs/kd
    torchrun --nproc_per_node=2 -m fsmde_gui.cli train --recipe supervised ...   (DDP, gloo)

``--progress jsonl`` prints one JSON object per event on stdout (the app's Jobs panel reads
them); SIGINT/SIGTERM cancel cleanly (a checkpoint is saved, ``--resume`` continues).
``--resume`` reuses the run's saved ``OUT/config.json``; options given again override it,
except the data (dataset, ``--version``, ``--scenes``): a resumed run cannot switch them.
"""
from __future__ import annotations

import json
import signal
import sys
import threading

from .dataset_args import add_dataset_options, parse_scene_list


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model (recipes: supervised, kd, teacher, ...)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=None, help="recipe name (default: config's or supervised)")
    p.add_argument("--config", default=None, help="YAML or JSON file with TrainConfig options")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option (JSON value; dotted keys nest, e.g. student.num_bins=16)")
    p.add_argument("--dataset", default=None, help="training dataset folder")
    p.add_argument("--out", default=None, help="output folder (checkpoints, final.pt, tb/)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt with OUT/config.json")
    add_dataset_options(p)
    p.add_argument("--progress", choices=("text", "jsonl", "none"), default="text")
    p.add_argument("--list-recipes", action="store_true", help="print the recipe names and exit")
    p.set_defaults(func=run)


def _print_text(event: dict) -> None:
    kind = event.get("event")
    if kind == "info":
        print(event.get("message", ""), flush=True)
        return
    losses = " ".join(f"{k}={v:.4f}" for k, v in (event.get("losses") or {}).items())
    line = f"[{kind}] step {event.get('step')}/{event.get('total')} {losses}"
    if event.get("eta_s"):
        line += f" eta {event['eta_s']:.0f}s"
    if event.get("checkpoint"):
        line += f" ckpt {event['checkpoint']}"
    if event.get("final"):
        line += f" final {event['final']}"
    print(line, flush=True)


def run(args) -> int:
    from ..training.config import load_config, load_resume_config
    from ..training.recipes import recipe_names
    from ..training.trainer import Trainer

    if args.list_recipes:
        print("\n".join(recipe_names()))
        return 0
    load = load_resume_config if args.resume else load_config
    cfg = load(args.config, args.overrides, recipe=args.recipe, dataset=args.dataset,
               out=args.out, steps=args.steps, seed=args.seed, dataset_version=args.version,
               dataset_scenes=parse_scene_list(args.scenes))
    cancel = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        cancel.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    if args.progress == "jsonl":
        def progress(event):
            sys.stdout.write(json.dumps(event, default=float) + "\n")
            sys.stdout.flush()
    elif args.progress == "text":
        progress = _print_text
    else:
        progress = None
    try:
        result = Trainer(cfg, resume=args.resume).run(progress=progress, cancel=cancel)
    except Exception as exc:
        if args.progress == "jsonl":
            sys.stdout.write(json.dumps({"event": "error", "message": str(exc)}) + "\n")
            sys.stdout.flush()
        raise
    return 0 if result["event"] == "done" else 130
