"""P1 ablation on held-out simulator scenes, over seeds: supervised vs +CKD vs +VRKD vs both.

Every row shares the shipped recipe (model_zoo spec ``student_kd``: data preset, steps,
resolution, teacher ``models/teacher_sim.pt``); only the KD terms differ. Each row is trained
with ``FSMDE_ABLATION_SEEDS`` (default ``0,1,2``) into ``runs/ablation/<row>_<steps>_s<seed>/``
(reused when the saved config and the teacher are the same), ``FSMDE_ABLATION_JOBS`` (default
2) trainings at a time with one thread each. Seed 0 of ``supervised`` / ``+CKD+VRKD`` is the
shipped ``models/student_supervised.pt`` / ``models/student_kd.pt`` when their cards show the
same steps. Each model is evaluated on the held-out preset (LiDAR GT, 80 m cap; dense GT;
median-scaled AbsRel; cross-view inconsistency; bin coverage), every ``FSMDE_EVAL_STRIDE``-th
frame (default 2: 60 of the 120 frames, all 12 scenes; frames 0.1 s apart are near-duplicates).

Printed: mean ± std over seeds per row, and the % gain of each row's mean vs supervised,
marked ``*`` when the gain exceeds twice the larger of the two rows' std (a gain that counts).

Run: ``.venv/bin/python -m benchmarks.run_all ablation``
Quick look: ``FSMDE_ABLATION_STEPS=200 FSMDE_ABLATION_SEEDS=0``.
``FSMDE_ABLATION_EXTRA=1`` adds diagnostic rows (the first release's aligned CKD; CKD with
the log normalisation; the KL at 1/5 weight); ``FSMDE_ABLATION_ROWS=a,b`` keeps only those rows
(the first kept row is the base of the gains).
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

VARIANTS = [
    # name, overrides of the student_kd spec config, shipped model for seed 0
    ("supervised", {"recipe": "supervised"}, "student_supervised"),
    ("+CKD", {"vrkd_weight": 0.0}, None),
    ("+VRKD", {"ckd_weight": 0.0, "ckd_cross_weight": 0.0}, None),
    ("+CKD+VRKD", {}, "student_kd"),
]
EXTRA_VARIANTS = [
    ("+CKDaligned", {"vrkd_weight": 0.0, "ckd_mode": "aligned"}, None),  # first release
    ("+CKDlog", {"vrkd_weight": 0.0, "ckd_norm": "log"}, None),
    # the KL at 1/5 weight: GT dominates at LiDAR pixels, the teacher's shape elsewhere
    ("+CKDkl0.2+VRKD", {"ckd_weight": 0.2}, None),
]
COLUMNS = [
    # key in the row, header, lower is better, format
    ("abs_rel", "AbsRel", True, "{:.4f}"),
    ("rmse", "RMSE", True, "{:.3f}"),
    ("a1", "δ1", False, "{:.3f}"),
    ("abs_rel_median", "medAbsRel", True, "{:.4f}"),
    ("dense_abs_rel", "denseAbsRel", True, "{:.4f}"),
    ("inconsistency_m", "incons m", True, "{:.3f}"),
    ("bins_distinct", "distinct", False, "{:.2f}"),
    ("bins_nearest_rel", "nearest", True, "{:.3f}"),
]


def _spec_config():
    from fsmde_gui.training.model_zoo import specs

    spec = next(s for s in specs() if s.name == "student_kd")
    return spec, dict(spec.config)


def variant_config(name: str, overrides: dict, steps: int | None, seed: int, train_root: Path,
                   teacher: Path, tag: str = "ablation") -> dict:
    spec, conf = _spec_config()
    conf.update({"recipe": spec.recipe, "seed": seed, "teacher_checkpoint": str(teacher),
                 "dataset": str(train_root)})
    conf.update(overrides)
    if steps:
        conf["steps"] = steps
    safe = name.replace("+", "plus_")
    conf["out"] = str(REPO / "runs" / tag / f"{safe}_{conf['steps']}_s{seed}")
    if conf.get("recipe", "kd") == "kd":  # teacher outputs computed once, shared by every run
        key = hashlib.sha256(f"{teacher_sha(teacher)} {train_root} {conf['image_size']}".encode())
        conf["extra"] = dict(conf.get("extra", {})) | {
            "teacher_cache_dir": str(REPO / "runs" / "teacher_cache" / key.hexdigest()[:16])}
    return conf


def teacher_sha(teacher: Path) -> str:
    return hashlib.sha256(Path(teacher).read_bytes()).hexdigest()


def _train_and_eval(job: tuple) -> dict:
    """One row x seed (runs in a worker process): train unless reusable, then evaluate."""
    name, conf, shipped, heldout, teacher = job
    import torch

    from fsmde_gui.training.config import TrainConfig
    from fsmde_gui.evaluation.evaluate import evaluate_dataset, load_estimator
    from fsmde_gui.training.trainer import Trainer

    torch.set_num_threads(1)
    if shipped:
        path = Path(shipped)
    else:
        cfg = TrainConfig.from_dict(TrainConfig().to_dict() | conf, f"ablation {name}")
        path = Path(cfg.out) / "final.pt"
        saved, stamp = Path(cfg.out) / "config.json", Path(cfg.out) / "teacher.sha256"
        sha = teacher_sha(teacher)
        if not (path.exists() and saved.exists() and stamp.exists()
                and TrainConfig().to_dict() | json.loads(saved.read_text()) == cfg.to_dict()
                and stamp.read_text().strip() == sha):
            print(f"  {name} seed {cfg.seed}: training {cfg.steps} steps -> {path}", flush=True)
            Trainer(cfg).run()
            stamp.write_text(sha + "\n")
    stride = int(os.environ.get("FSMDE_EVAL_STRIDE", "2"))
    res = evaluate_dataset(heldout, load_estimator(str(path)), max_depth=80.0,
                           frame_stride=stride)
    o, dense, bins = res["overall"], res.get("dense", {}), res.get("bins", {})
    return {"variant": name, "seed": int(conf["seed"]), "checkpoint": str(path),
            "abs_rel": o["abs_rel"], "rmse": o["rmse"], "a1": o["a1"],
            "abs_rel_median": o["abs_rel_median"],
            "dense_abs_rel": dense.get("abs_rel", float("nan")),
            "inconsistency_m": res["consistency"]["mean"],
            "bins_distinct": bins.get("distinct", float("nan")),
            "bins_nearest_rel": bins.get("nearest_rel", float("nan"))}


def pct(new: float, base: float, lower_is_better: bool = True) -> float:
    """% improvement vs base (positive = better)."""
    if base == 0:
        return float("nan")
    change = (new - base) / abs(base) * 100.0
    return (-change if lower_is_better else change) + 0.0  # no "-0.0"


def summarise(runs: list[dict], names: list[str]) -> list[dict]:
    """Mean / std per row and column, gain vs the first row, and whether it counts (> 2 std)."""
    rows = []
    for name in names:
        mine = [r for r in runs if r["variant"] == name]
        row = {"variant": name, "seeds": sorted(r["seed"] for r in mine)}
        for key, *_ in COLUMNS:
            vals = np.asarray([r[key] for r in mine], np.float64)
            row[key] = float(np.mean(vals)) if len(vals) else float("nan")
            row[key + "_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
        rows.append(row)
    base = rows[0]
    for row in rows:
        for key, _, lower, _ in COLUMNS:
            row[key + "_gain_pct"] = pct(row[key], base[key], lower)
            noise = 2 * max(row[key + "_std"], base[key + "_std"])
            row[key + "_counts"] = bool(np.isfinite(noise)
                                        and (base[key] - row[key]) * (1 if lower else -1) > noise)
    return rows


def format_rows(rows: list[dict]) -> str:
    head = f"{'variant':<13}" + "".join(f"{h:>20}" for _, h, _, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    for row in rows:
        cells = []
        for key, _, _, fmt in COLUMNS:
            std = row[key + "_std"]
            cell = fmt.format(row[key]) + ("±" + fmt.format(std) if np.isfinite(std) else "")
            cells.append(f"{cell:>20}")
        lines.append(f"{row['variant']:<13}" + "".join(cells))
        gains = "".join(f"{row[k + '_gain_pct']:>+19.1f}{'*' if row[k + '_counts'] else ' '}"
                        for k, *_ in COLUMNS)
        lines.append(f"{'  gain %':<13}" + gains)
    return "\n".join(lines)


def run_rows(variants: list[tuple], steps: int | None, seeds: list[int], jobs_n: int,
             tag: str = "ablation") -> tuple[list[dict], list[dict], int]:
    """Train + evaluate every (row, seed); returns (rows summarised, runs, steps)."""
    from fsmde_gui.training.model_zoo import ensure_preset

    data_root, models = REPO / "data", REPO / "models"
    teacher = models / "teacher_sim.pt"
    if not teacher.exists():
        raise FileNotFoundError(f"{teacher}: build it first (make models)")
    spec, conf = _spec_config()
    heldout = ensure_preset(data_root, "heldout")
    train_root = ensure_preset(data_root, spec.preset)
    jobs = []
    for name, overrides, shipped in variants:
        for seed in seeds:
            c = variant_config(name, overrides, steps, seed, train_root, teacher, tag)
            ship = None
            if shipped and seed == spec.seed and not steps:
                card = models / f"{shipped}.json"
                if (models / f"{shipped}.pt").exists() and card.exists() and \
                        json.loads(card.read_text()).get("steps") == conf["steps"]:
                    ship = str(models / f"{shipped}.pt")
            jobs.append((name, c, ship, str(heldout), str(teacher)))
    with ProcessPoolExecutor(max_workers=jobs_n, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(_train_and_eval, jobs))
    for r in runs:
        r["checkpoint"] = str(Path(r["checkpoint"]).resolve().relative_to(REPO))
    return summarise(runs, [v[0] for v in variants]), runs, steps or conf["steps"]


def env_settings(prefix: str, default_seeds: str = "0,1,2") -> tuple[int | None, list[int], int]:
    """(steps or None, seeds, parallel jobs) from ``<prefix>_STEPS/_SEEDS/_JOBS``."""
    steps_env = os.environ.get(f"{prefix}_STEPS")
    seeds = [int(s) for s in os.environ.get(f"{prefix}_SEEDS", default_seeds).split(",")]
    return (int(steps_env) if steps_env else None, seeds,
            int(os.environ.get(f"{prefix}_JOBS", "2")))


def main(out_dir: Path) -> dict:
    steps, seeds, jobs_n = env_settings("FSMDE_ABLATION")
    variants = VARIANTS + (EXTRA_VARIANTS if os.environ.get("FSMDE_ABLATION_EXTRA") else [])
    only = [r for r in os.environ.get("FSMDE_ABLATION_ROWS", "").split(",") if r]
    if only:  # e.g. FSMDE_ABLATION_ROWS=supervised,+CKDkl0.2+VRKD (the first row is the base)
        variants = [v for v in variants if v[0] in only]
    rows, runs, n_steps = run_rows(variants, steps, seeds, jobs_n)
    print(f"held-out simulator scenes (data/heldout), {n_steps} steps per model, seeds "
          f"{seeds}: mean±std; gain % vs supervised, * = gain > 2 std")
    print(format_rows(rows))
    return {"steps": n_steps, "seeds": seeds, "eval": "data/heldout", "rows": rows, "runs": runs}


if __name__ == "__main__":
    main(REPO / "benchmarks" / "results")
