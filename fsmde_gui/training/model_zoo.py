"""The shipped models (`fsmde models --out models`, `make models`): a list of specs, each
trained with a fixed seed on a simulator preset, evaluated on the held-out preset, and
written as ``models/<name>.pt`` + ``models/<name>.json`` (model card).

Other areas append their specs with :func:`add_spec` (or to :data:`SPECS`) from a module
imported by :mod:`fsmde_gui.training.model_specs`. A spec may ``depends_on`` another spec's
output (e.g. ``student_kd`` needs ``teacher_sim``): the dependency's file in the output folder
is passed as ``teacher_checkpoint``.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from ..core.atomic_io import atomic_write_json
from ..core.errors import FsmdeError
from ..data.simulator.generate import generate_dataset
from ..models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ..paths import PROJECT_ROOT
from .config import TrainConfig
from ..evaluation.evaluate import evaluate_dataset, format_table, json_safe, load_estimator
from .trainer import Trainer
from ..core.types import MAX_DEPTH_M

log = logging.getLogger(__name__)
REPO = PROJECT_ROOT

DATA_SEEDS = {"tiny": 123, "sample": 0, "train": 0, "student": 0, "teacher": 0, "heldout": 0}
"""Simulator seed per preset (each preset owns a disjoint scene-seed range, see
simulator/presets.py, so held-out scenes never appear in training)."""

SHIPPED_SIZE = (192, 112)  # (W, H) input of every shipped net (2-core CPU budget)

COMMON = {"image_size": list(SHIPPED_SIZE), "batch_size": 1, "num_threads": 1,
          "checkpoint_every": 250, "log_every": 50, "color_jitter": 0.1}


STUDENT_BUDGET = {"steps": 2000, "lr": 1e-3}
"""Steps and learning rate of the shipped students and of every ablation row."""


LITE_STUDENT = {"decoder_upsample": "nearest", "expand": 3}
"""StudentConfig overrides of the lite (deployment) student: nearest upsampling keeps ONNX
Runtime's blocked layout through the decoder (time follows FLOPs) and the encoder's inverted
residual blocks expand by 3 instead of 4 (fewer FLOPs and parameters). Bins and decoder
widths stay those of student_kd: fewer bins or a narrower last decoder step cost cross-view
consistency (docs/RESULTS.md, ablation)."""


@dataclass
class ModelSpec:
    name: str
    recipe: str
    preset: str  # training data preset
    seed: int = 0
    config: dict = field(default_factory=dict)  # TrainConfig overrides
    depends_on: Optional[str] = None  # spec whose checkpoint is the teacher
    eval_preset: str = "heldout"
    evaluate: bool = True
    description: str = ""
    half_storage: bool = False  # store float16 weights (halves the file; loaded as float32)
    extra_presets: dict = field(default_factory=dict)  # extra.<key> = path of this preset
    # fine-tuning on a real folder: the spec whose models/<name>.pt the student starts from,
    # training data from ``fsmde models --real-data DIR`` (preset unused) and a held-out real
    # folder of the repository to evaluate on (``eval_preset`` unused)
    init_from: Optional[str] = None
    real_data: bool = False
    eval_folder: str = ""


SPECS: list[ModelSpec] = [
    ModelSpec("teacher_sim", "teacher", "teacher", seed=0,
              config=COMMON | {"steps": 1000, "lr": 1e-3, "max_depth": MAX_DEPTH_M},
              description="bundled relative-depth (disparity) teacher: larger net, more varied "
                          "scenes, DENSE GT, scale-and-shift-invariant + gradient loss",
              half_storage=True),
    ModelSpec("student_supervised", "supervised", "student", seed=0,
              config=COMMON | STUDENT_BUDGET,
              description="student on sparse LiDAR GT only (SILog + bin-centre chamfer) - the "
                          "P1 baseline"),
    ModelSpec("student_kd", "kd", "student", seed=0, depends_on="teacher_sim",
              config=COMMON | STUDENT_BUDGET,
              description="student with GT + cross-interaction KD (ordinal, scale-invariant "
                          "teacher bins) + view-relational KD (P1)"),
    ModelSpec("student_kd_lite", "kd", "student", seed=0, depends_on="teacher_sim",
              config=COMMON | STUDENT_BUDGET | {"student": dict(LITE_STUDENT)},
              description="the deployment student: student_kd's recipe, data and budget on "
                          "the lite architecture (nearest-neighbour decoder upsampling, encoder "
                          "expansion 3 instead of 4): about 1.2x faster in ONNX Runtime "
                          "(issue: deploy)"),
    ModelSpec("student_reflection_ssl", "reflection-ssl", "train", seed=0,
              config=COMMON | {"steps": 1200, "lr": 1e-3, "image_size": [128, 80],
                               "checkpoint_every": 200,
                               "extra": {"mask": "predicted", "mask_after": 0.3}},
              extra_presets={"decomp_data": "teacher"},
              description="student + intrinsic decomposition, self-supervised (photometric, "
                          "known ego motion; no depth labels) with reflective pixels masked "
                          "out of the photometric loss (P3); the decomposition head also "
                          "learns from the teacher preset's GT layers (synthetic prior)"),
]

REAL_FINETUNE = {"steps": 800, "lr": 3e-4, "warmup_steps": 20, "checkpoint_every": 100,
                 "num_workers": 1}
"""Fine-tuning budget on a real folder (41 keyframes of scene-0916: about 20 epochs)."""

SPECS.append(
    ModelSpec("student_kd_real", "kd", "", seed=0, depends_on="teacher_sim",
              init_from="student_kd", real_data=True,
              eval_folder="resources/nuscenes-keyframe",
              config=COMMON | REAL_FINETUNE,
              description="student_kd fine-tuned on one real nuScenes scene (scene-0916, 41 "
                          "keyframes: sparse LiDAR + CKD + VRKD from teacher_sim); judged on "
                          "the bundled keyframe, another scene and log"))

def add_spec(spec: ModelSpec) -> None:
    """Add or replace (same name) a shipped-model spec."""
    for k, s in enumerate(SPECS):
        if s.name == spec.name:
            SPECS[k] = spec
            return
    SPECS.append(spec)


def specs() -> list[ModelSpec]:
    return list(SPECS)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def ensure_preset(data_root: Path, preset: str, say: Callable[[str], None] = print) -> Path:
    """``data_root/<preset>`` generated with the fixed seed unless it already exists."""
    out = data_root / preset
    if (out / ".complete").exists():  # generate_dataset writes it last
        return out
    seed = DATA_SEEDS.get(preset, 0)
    say(f"generating simulator preset {preset!r} (seed {seed}) into {out}")
    t0 = time.perf_counter()
    generate_dataset(out, preset=preset, seed=seed)
    say(f"  {preset}: {time.perf_counter() - t0:.0f} s")
    return out


def _atomic_json(path: Path, data: dict) -> None:
    atomic_write_json(path, json_safe(data), allow_nan=False)


def training_folder(spec: ModelSpec, data_root: Path, real_data: Optional[Path],
                    say: Callable[[str], None]) -> Path:
    """The folder a spec trains on: its simulator preset, or the user's real folder."""
    if not spec.real_data:
        return ensure_preset(data_root, spec.preset, say)
    if real_data is None:
        raise FsmdeError(f"{spec.name} fine-tunes on a real nuScenes folder: pass "
                         f"--real-data DIR (the shipped one used scene-0916)")
    if not Path(real_data).is_dir():
        raise FsmdeError(f"{real_data}: --real-data folder does not exist")
    return Path(real_data)


def spec_train_config(spec: ModelSpec, out_dir: Path, data_root: Path, runs_root: Path,
                      train_root: Path, say: Callable[[str], None],
                      steps_scale: float = 1.0) -> TrainConfig:
    """The spec's TrainConfig: its options, data, seed, teacher / start checkpoints."""
    opts = dict(spec.config)
    if spec.real_data:
        opts["cache_dir"] = str(runs_root / "sample_cache")
    if spec.init_from:
        init = out_dir / f"{spec.init_from}.pt"
        if not init.exists():
            raise FsmdeError(f"{init}: {spec.name} starts from {spec.init_from}; build it first")
        opts["init_checkpoint"] = str(init)
    if steps_scale != 1.0:
        opts["steps"] = max(2, int(opts.get("steps", 200) * steps_scale))
    opts.update({"recipe": spec.recipe, "dataset": str(train_root), "seed": spec.seed,
                 "out": str(runs_root / spec.name)})
    if spec.extra_presets:  # e.g. the reflection recipe's decomposition prior data
        opts["extra"] = dict(opts.get("extra", {})) | {
            key: str(ensure_preset(data_root, preset, say))
            for key, preset in spec.extra_presets.items()}
    if spec.depends_on:
        dep = out_dir / f"{spec.depends_on}.pt"
        if not dep.exists():
            raise FsmdeError(f"{dep}: {spec.name} needs {spec.depends_on} first")
        opts["teacher_checkpoint"] = str(dep)
    return TrainConfig.from_dict(TrainConfig().to_dict() | opts, f"spec {spec.name}")


def model_card(spec: ModelSpec, cfg: TrainConfig, out_dir: Path, train_root: Path,
               result: dict, train_s: float, payload: dict, model) -> dict:
    """The card of a freshly trained spec (before its evaluation is added)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "arch": payload["arch"],
        "recipe": spec.recipe,
        "command": f"fsmde models --out {out_dir.name} --only {spec.name}"
                   + (f" --real-data DIR/{train_root.name}" if spec.real_data else ""),
        "train_config": cfg.to_dict() | {"dataset": (f"<real-data>/{train_root.name}"
                                                     if spec.real_data else f"data/{spec.preset}"),
                                         "out": f"runs/models/{spec.name}"}
        | ({"init_checkpoint": f"{out_dir.name}/{spec.init_from}.pt", "cache_dir": ""}
           if spec.init_from else {})
        | ({"extra": cfg.extra | {k: f"data/{p}" for k, p in spec.extra_presets.items()}}
           if spec.extra_presets else {})
        | ({"teacher_checkpoint": f"{out_dir.name}/{spec.depends_on}.pt"}
           if spec.depends_on else {}),
        "seed": spec.seed,
        "data": ({"real_folder": train_root.name, "eval_folder": spec.eval_folder}
                 if spec.real_data else
                 {"preset": spec.preset, "seed": DATA_SEEDS.get(spec.preset),
                  "eval_preset": spec.eval_preset,
                  "eval_seed": DATA_SEEDS.get(spec.eval_preset)}),
        "init_from": spec.init_from,
        "teacher": spec.depends_on,
        "steps": int(result["step"]),
        "frames_seen": int(result["step"]) * int(cfg.batch_size),
        "train_wall_s": round(train_s, 1),
        "final_losses": result["losses"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "input_size": list(cfg.image_size),
        "git_commit": git_commit(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, torch {torch.__version__}, "
                   f"{cfg.num_threads} threads",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def build_model(spec: ModelSpec, out_dir: Path, data_root: Path, runs_root: Path,
                say: Callable[[str], None] = print, cancel=None,
                steps_scale: float = 1.0, real_data: Optional[Path] = None) -> dict:
    """Train, evaluate and write one shipped model + card. Returns the card."""
    train_root = training_folder(spec, data_root, real_data, say)
    cfg = spec_train_config(spec, out_dir, data_root, runs_root, train_root, say, steps_scale)
    run_dir = Path(cfg.out)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    data_name = train_root.name if spec.real_data else spec.preset
    say(f"training {spec.name}: recipe {spec.recipe}, {cfg.steps} steps at "
        f"{cfg.image_size[0]}x{cfg.image_size[1]}, data {data_name}, seed {spec.seed}")

    def progress(ev):
        if ev.get("event") in ("progress", "checkpoint") and ev["step"] % 250 == 0:
            loss = ev["losses"].get("total", float("nan"))
            say(f"  {spec.name} step {ev['step']}/{ev['total']} loss {loss:.4f} "
                f"eta {ev['eta_s']:.0f}s")

    t0 = time.perf_counter()
    result = Trainer(cfg).run(progress=progress, cancel=cancel)
    train_s = time.perf_counter() - t0
    if result["event"] != "done":
        raise FsmdeError(f"training of {spec.name} was {result['event']}")
    payload = read_checkpoint(result["final"])
    model, _ = load_checkpoint(result["final"])
    card = model_card(spec, cfg, out_dir, train_root, result, train_s, payload, model)
    dest = out_dir / f"{spec.name}.pt"
    meta = dict(payload["meta"]) | {"name": spec.name, "card": f"{spec.name}.json"}
    meta.pop("train_config", None)
    meta["dataset"] = train_root.name if spec.real_data else f"data/{spec.preset}"
    if spec.half_storage:
        model = model.half()
        meta["stored_dtype"] = "float16 (loaded as float32)"
    save_checkpoint(dest, model, payload["arch"], payload["config"], meta)
    card["size_mb"] = round(dest.stat().st_size / 1e6, 2)
    _atomic_json(out_dir / f"{spec.name}.json", card)  # card before eval: training is kept
    say(f"wrote {dest} ({card['size_mb']} MB) and {spec.name}.json")
    if spec.evaluate:
        card = evaluate_model(spec, out_dir, data_root, say, real_data=train_root
                              if spec.real_data else None)
    return card


def evaluate_model(spec: ModelSpec, out_dir: Path, data_root: Path,
                   say: Callable[[str], None] = print,
                   real_data: Optional[Path] = None) -> dict:
    """(Re-)evaluate ``out_dir/<name>.pt`` on the spec's held-out data; update its card.

    A real fine-tune is judged on ``eval_folder`` (never trained on), next to the model it
    started from; its figures on the training folder are kept apart as ``eval_train_folder``
    (not held-out)."""
    dest = out_dir / f"{spec.name}.pt"
    card_path = out_dir / f"{spec.name}.json"
    if not dest.exists() or not card_path.exists():
        raise FsmdeError(f"{dest}: not built yet (fsmde models --only {spec.name})")
    card = json.loads(card_path.read_text())
    if spec.eval_folder:
        eval_root, eval_name = REPO / spec.eval_folder, spec.eval_folder
    else:
        eval_root = ensure_preset(data_root, spec.eval_preset, say)
        eval_name = f"data/{spec.eval_preset}"
    res = evaluate_dataset(eval_root, load_estimator(str(dest)), max_depth=MAX_DEPTH_M)
    say(format_table(res, f"{spec.name} on {eval_name} ({res['frames']} frames)"))
    if spec.init_from:
        start = evaluate_dataset(eval_root, load_estimator(str(out_dir / f"{spec.init_from}.pt")),
                                 max_depth=MAX_DEPTH_M)["overall"]
        card["eval_init"] = {"model": spec.init_from, "dataset": eval_name,
                             "overall": start, "abs_rel_gain": round(
                                 1.0 - res["overall"]["abs_rel"] / start["abs_rel"], 4)}
    if real_data is not None:
        train_res = evaluate_dataset(real_data, load_estimator(str(dest)), max_depth=MAX_DEPTH_M)
        card["eval_train_folder"] = {"dataset": Path(real_data).name, "held_out": False,
                                     "frames": train_res["frames"],
                                     "overall": train_res["overall"]}
    card["eval"] = {"dataset": eval_name, "max_depth": MAX_DEPTH_M,
                    "frames": res["frames"], "overall": res["overall"],
                    "per_camera": res["per_camera"],
                    "consistency": res.get("consistency", {}),
                    "mean_inference_ms": res["mean_inference_ms"]}
    for key in ("dense", "bins"):
        if key in res:
            card["eval"][key] = res[key]
    card["eval_git_commit"] = git_commit()
    _atomic_json(card_path, card)
    return card


def build_all(out_dir: str | Path = REPO / "models", only: list[str] | None = None,
              data_root: str | Path = REPO / "data", runs_root: str | Path = REPO / "runs" / "models",
              say: Callable[[str], None] = print, cancel=None, steps_scale: float = 1.0,
              eval_only: bool = False, real_data: str | Path | None = None) -> list[dict]:
    out_dir, data_root, runs_root = Path(out_dir), Path(data_root), Path(runs_root)
    todo = specs()
    if only:
        names = {s.name for s in todo}
        missing = sorted(set(only) - names)
        if missing:
            raise FsmdeError(f"unknown model(s) {missing}; known: {sorted(names)}")
        todo = [s for s in todo if s.name in only]
    elif real_data is None:
        skipped = [s.name for s in todo if s.real_data]
        if skipped:
            say(f"skipping {', '.join(skipped)} (fine-tuned on real data: pass --real-data DIR)")
        todo = [s for s in todo if not s.real_data]
    real_data = Path(real_data) if real_data else None
    out_dir.mkdir(parents=True, exist_ok=True)
    cards = []
    t0 = time.perf_counter()
    for spec in todo:
        if eval_only:
            cards.append(evaluate_model(spec, out_dir, data_root, say,
                                        real_data if spec.real_data else None))
        else:
            cards.append(build_model(spec, out_dir, data_root, runs_root, say, cancel,
                                     steps_scale, real_data))
    say(f"models done in {time.perf_counter() - t0:.0f} s")
    return cards


def main() -> int:  # python -m fsmde_gui.training.model_zoo
    build_all(only=sys.argv[1:] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
