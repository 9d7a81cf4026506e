"""`fsmde train`: train a model with a recipe (supervised, kd, teacher, plug-ins).

    fsmde train --recipe kd --config cfg.yaml --set steps=500 --set ckd_weight=0 --out runs/kd
    torchrun --nproc_per_node=2 -m fsmde_gui.cli train --recipe supervised ...   (DDP, gloo)

``--progress jsonl`` prints one JSON object per event on stdout (the app's Jobs panel reads
them); SIGINT/SIGTERM cancel cleanly (a checkpoint is saved, ``--resume`` continues).
``--resume`` reuses the run's saved ``OUT/config.json``; options given again override it,
except the data (dataset, ``--version``, ``--scenes``): a resumed run cannot switch them.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import tempfile
import threading
from pathlib import Path

from ..core.errors import TrainingError
from ..models.student import StudentConfig
from ..models.teacher_sim import TeacherConfig
from ..training.config import (TrainConfig, apply_overrides, load_config, load_resume_config,
                               read_config_file)
from ..training.recipes import recipe_names
from ..training.trainer import Trainer
from .dataset_args import add_dataset_options, parse_scene_list

# Option ranges checked here, at the CLI boundary, before TrainConfig is built (its
# validate() covers the enumerations, steps/batch_size >= 1 and image_size multiples of 16).
POSITIVE_INT = ("steps", "batch_size", "num_threads", "log_every")
NON_NEGATIVE_INT = ("max_frames", "warmup_steps", "checkpoint_every", "seed")
POSITIVE_FLOAT = ("lr", "min_depth", "max_depth", "ckd_tau", "vrkd_tau")
NON_NEGATIVE_FLOAT = ("weight_decay", "grad_clip", "gt_weight", "bin_chamfer_weight", "ckd_weight",
                      "ckd_cross_weight", "vrkd_weight", "ssi_weight", "grad_match_weight")
UNIT_FLOAT = {"color_jitter": (0.0, 1.0, True), "vrkd_strip": (0.0, 1.0, False)}  # (lo, hi, lo ok)
MAX_IMAGE_SIDE = 4096  # training input pixels per side
MAX_SEED = 2 ** 32 - 1


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


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_type(name: str, value, default, source: str) -> None:
    """``value`` has the type of the option's default (ints are ints, numbers are finite)."""
    def bad(what: str):
        return TrainingError(f"{source}: {name} must be {what}, got {_describe(value)}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        if not math.isfinite(value):
            raise bad("a finite number")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
    elif isinstance(default, (tuple, list)):
        kinds = {type(v) for v in default}  # empty (dataset_scenes): validate() checks items
        if not isinstance(value, (list, tuple)) or (len(default) == 2 and len(value) != 2 and
                                                     name.endswith(("image_size", "input_size"))):
            raise bad(f"a list like {list(default)}" if default else "a list")
        for v in value:
            if kinds and kinds <= {int} and (isinstance(v, bool) or not isinstance(v, int)):
                raise bad("a list of integers")
    elif isinstance(default, dict) and not isinstance(value, dict):
        raise bad("a mapping of option: value")


def _model_defaults() -> dict:
    """Defaults of the nested ``student.*`` / ``teacher.*`` options (the model configs)."""
    out = {}
    for key, cls in (("student", StudentConfig), ("teacher", TeacherConfig)):
        out[key] = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    return out


def check_option_types(data: dict, source: str) -> None:
    """Types of user-given options (a config file or one ``--set``), before TrainConfig is
    built, so a bad value is one line naming the option instead of a traceback later."""
    defaults = TrainConfig().to_dict()
    nested = None
    for key, value in data.items():
        if not isinstance(key, str):
            raise TrainingError(f"{source}: option names must be strings, got {_describe(key)}")
        if key not in defaults:
            continue  # TrainConfig.from_dict reports unknown options (with the known ones)
        _check_type(key, value, defaults[key], source)
        if key in ("student", "teacher"):
            nested = _model_defaults() if nested is None else nested
            for sub, v in value.items():
                if sub in nested.get(key, {}):
                    _check_type(f"{key}.{sub}", v, nested[key][sub], source)


def check_option_ranges(cfg, origin) -> None:
    """Ranges of the resolved options; ``origin(name)`` says where a value came from."""
    def bad(name: str, what: str):
        return TrainingError(f"{origin(name)}: {name} must be {what}, got "
                             f"{_describe(getattr(cfg, name))}")

    for name in POSITIVE_INT:
        if getattr(cfg, name) < 1:
            raise bad(name, ">= 1")
    for name in NON_NEGATIVE_INT:
        if getattr(cfg, name) < 0:
            raise bad(name, ">= 0")
    if cfg.seed > MAX_SEED:
        raise bad("seed", f"<= {MAX_SEED}")
    for name in POSITIVE_FLOAT:
        if not getattr(cfg, name) > 0:
            raise bad(name, "> 0")
    for name in NON_NEGATIVE_FLOAT:
        if not getattr(cfg, name) >= 0:
            raise bad(name, ">= 0")
    for name, (lo, hi, lo_ok) in UNIT_FLOAT.items():
        v = getattr(cfg, name)
        if not ((lo <= v if lo_ok else lo < v) and v <= hi):
            raise bad(name, f"in {'[' if lo_ok else '('}{lo:g}, {hi:g}]")
    if not cfg.max_depth > cfg.min_depth:
        raise bad("max_depth", f"> min_depth ({cfg.min_depth:g})")
    w, h = cfg.image_size
    if not (16 <= w <= MAX_IMAGE_SIDE and 16 <= h <= MAX_IMAGE_SIDE):
        raise bad("image_size", f"[W, H] with sides between 16 and {MAX_IMAGE_SIDE}")


def check_out_folder(out: str | Path, source: str) -> list[Path]:
    """The output folder can be created and written, and its disk is not full (checked
    before any data or model loads). Returns the folders it created (innermost last), so
    that a run refused before it writes anything leaves no empty folders behind."""
    out = Path(out)
    created = [p for p in (out, *out.parents) if not p.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out) as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
    except OSError as exc:
        raise TrainingError(f"{out}: cannot write the output folder ({source}): "
                            f"{exc.strerror or exc}") from exc
    return created


def remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders ``check_out_folder`` created, innermost first, while empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()  # only succeeds on an empty folder
        except OSError:
            return


def read_user_config(path: str) -> dict:
    """The config file's options (a binary or non-UTF-8 file is one line, not a traceback)."""
    p = Path(path)
    if p.is_file():
        raw = p.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TrainingError(f"{p}: not a text config file (invalid UTF-8 at byte "
                                f"{exc.start}); expected YAML or JSON") from None
        if b"\0" in raw:
            raise TrainingError(f"{p}: not a text config file (NUL bytes); expected YAML or JSON")
    return read_config_file(p)


def load_checked_config(args):
    """TrainConfig from --config, the CLI fields and --set, every option checked. With
    ``--resume`` the run's saved ``OUT/config.json`` is the base (see load_resume_config)."""
    from_file: dict = {}
    if args.config:
        from_file = read_user_config(args.config)
        check_option_types(from_file, str(args.config))
    saved: dict = {}
    saved_path = None
    if getattr(args, "resume", False):
        out = args.out or from_file.get("out") or TrainConfig.out
        if isinstance(out, str) and (Path(out) / "config.json").is_file():
            saved_path = Path(out) / "config.json"
            saved = read_user_config(str(saved_path))
            check_option_types(saved, str(saved_path))
    set_keys: dict[str, str] = {}
    for pair in args.overrides or []:
        one = apply_overrides({}, [pair])
        check_option_types(one, f"--set {pair}")
        set_keys.setdefault(pair.split("=", 1)[0].strip().split(".")[0], pair)
    fields = dict(recipe=args.recipe, dataset=args.dataset, out=args.out, steps=args.steps,
                  seed=args.seed, dataset_version=getattr(args, "version", None) or None,
                  dataset_scenes=parse_scene_list(getattr(args, "scenes", None)))
    flags = {k: f"--{k}" for k in ("recipe", "dataset", "out", "steps", "seed")
             if getattr(args, k, None) is not None}
    if getattr(args, "version", None):
        flags["dataset_version"] = "--version"
    if parse_scene_list(getattr(args, "scenes", None)):
        flags["dataset_scenes"] = "--scenes"

    def origin(name: str) -> str:
        if name in set_keys:
            return f"--set {set_keys[name]}"
        if name in flags:
            return flags[name]
        if name in from_file:
            return str(args.config)
        return str(saved_path) if name in saved else "default config"

    # the ranges first, on the merged options (as load_config / load_resume_config merge
    # them), so a bad value names where it came from before TrainConfig.validate sees it
    merged = TrainConfig().to_dict() | saved | from_file
    merged.update({k: v for k, v in fields.items() if v is not None})
    check_option_ranges(_Options(apply_overrides(merged, args.overrides or [])), origin)
    load = load_resume_config if getattr(args, "resume", False) else load_config
    cfg = load(args.config, args.overrides, **fields)
    check_option_ranges(cfg, origin)
    return cfg, origin


class _Options(dict):
    """Merged option values read as attributes (what check_option_ranges reads)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def run(args) -> int:
    if args.list_recipes:
        print("\n".join(recipe_names()))
        return 0
    cfg, origin = load_checked_config(args)
    created = check_out_folder(cfg.out, origin("out"))
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
        remove_if_empty(created)  # e.g. an empty dataset: no run folder left behind
        if args.progress == "jsonl":
            sys.stdout.write(json.dumps({"event": "error", "message": str(exc)}) + "\n")
            sys.stdout.flush()
        raise
    return 0 if result["event"] == "done" else 130
