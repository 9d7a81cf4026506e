"""P1 ablation on held-out simulator scenes: supervised-only vs +CKD vs +VRKD vs +both.

The four students share the shipped recipe (model_zoo spec ``student_kd``: same data preset,
seed, steps, resolution, teacher ``models/teacher_sim.pt``); only the KD weights differ.
``supervised`` and ``both`` are the shipped ``models/student_supervised.pt`` /
``models/student_kd.pt`` when present (their cards must show the same steps), the two
missing variants are trained into ``runs/ablation/<variant>/`` (reused if already there with
the same config). Metrics: AbsRel, RMSE, δ1 on LiDAR GT (80 m cap) and the cross-view
inconsistency (metres, lower is better), with % change vs supervised side by side.

Run: ``.venv/bin/python -m benchmarks.run_all ablation``
Quick look with fewer steps (trains all four): ``FSMDE_ABLATION_STEPS=200``.
Two diagnostic rows (CKD KL term only; CKD at 1/10 weight + VRKD): ``FSMDE_ABLATION_EXTRA=1``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VARIANTS = [
    # name, overrides of the student_kd spec config, shipped model reused when present
    ("supervised", {"recipe": "supervised"}, "student_supervised"),
    ("+CKD", {"vrkd_weight": 0.0}, None),
    ("+VRKD", {"ckd_weight": 0.0, "ckd_cross_weight": 0.0}, None),
    ("+CKD+VRKD", {}, "student_kd"),
]
EXTRA_VARIANTS = [
    # diagnostics (FSMDE_ABLATION_EXTRA=1): which part of CKD hurts at this budget
    ("+KLonly", {"vrkd_weight": 0.0, "ckd_cross_weight": 0.0}, None),
    ("+CKDlow+VRKD", {"ckd_weight": 0.1, "ckd_cross_weight": 0.05}, None),
]


def _spec_config():
    from fsmde_gui.training.model_zoo import specs

    spec = next(s for s in specs() if s.name == "student_kd")
    return spec, dict(spec.config)


def _train_variant(name: str, overrides: dict, steps: int | None, data_root: Path,
                   teacher: Path) -> Path:
    from fsmde_gui.training.config import TrainConfig
    from fsmde_gui.training.model_zoo import ensure_preset
    from fsmde_gui.training.trainer import Trainer

    spec, conf = _spec_config()
    conf.update({"recipe": spec.recipe, "seed": spec.seed, "teacher_checkpoint": str(teacher),
                 "dataset": str(ensure_preset(data_root, spec.preset))})
    conf.update(overrides)
    if steps:
        conf["steps"] = steps
    safe = name.replace("+", "plus_")
    conf["out"] = str(REPO / "runs" / "ablation" / f"{safe}_{conf['steps']}")
    cfg = TrainConfig.from_dict(TrainConfig().to_dict() | conf, f"ablation {name}")
    final = Path(cfg.out) / "final.pt"
    saved = Path(cfg.out) / "config.json"
    stamp = Path(cfg.out) / "teacher.sha256"  # same config but a retrained teacher: retrain
    teacher_sha = hashlib.sha256(Path(teacher).read_bytes()).hexdigest()
    if (final.exists() and saved.exists() and json.loads(saved.read_text()) == cfg.to_dict()
            and stamp.exists() and stamp.read_text().strip() == teacher_sha):
        print(f"  {name}: reusing {final}")
        return final
    print(f"  {name}: training {cfg.steps} steps -> {final}", flush=True)
    Trainer(cfg).run()
    stamp.write_text(teacher_sha + "\n")
    return final


def pct(new: float, base: float, lower_is_better: bool = True) -> float:
    """% improvement vs base (positive = better)."""
    if base == 0:
        return float("nan")
    change = (new - base) / abs(base) * 100.0
    return (-change if lower_is_better else change) + 0.0  # no "-0.0"


def main(out_dir: Path) -> dict:
    from fsmde_gui.training.evaluate import evaluate_dataset, load_estimator
    from fsmde_gui.training.model_zoo import ensure_preset

    steps_env = os.environ.get("FSMDE_ABLATION_STEPS")
    steps = int(steps_env) if steps_env else None
    data_root = REPO / "data"
    models = REPO / "models"
    teacher = models / "teacher_sim.pt"
    if not teacher.exists():
        raise FileNotFoundError(f"{teacher}: build it first (make models)")
    spec, conf = _spec_config()
    heldout = ensure_preset(data_root, "heldout")
    rows = []
    variants = VARIANTS + (EXTRA_VARIANTS if os.environ.get("FSMDE_ABLATION_EXTRA") else [])
    for name, overrides, shipped in variants:
        path = None
        if shipped and not steps:
            card = models / f"{shipped}.json"
            if (models / f"{shipped}.pt").exists() and card.exists() and \
                    json.loads(card.read_text()).get("steps") == conf["steps"]:
                path = models / f"{shipped}.pt"
                print(f"  {name}: shipped {path.name}")
        if path is None:
            path = _train_variant(name, overrides, steps, data_root, teacher)
        res = evaluate_dataset(heldout, load_estimator(str(path)), max_depth=80.0)
        rows.append({"variant": name, "checkpoint": str(path.relative_to(REPO)),
                     "abs_rel": res["overall"]["abs_rel"], "rmse": res["overall"]["rmse"],
                     "a1": res["overall"]["a1"],
                     "inconsistency_m": res["consistency"]["mean"]})
    base = rows[0]
    for r in rows:
        r["abs_rel_gain_pct"] = pct(r["abs_rel"], base["abs_rel"])
        r["rmse_gain_pct"] = pct(r["rmse"], base["rmse"])
        r["a1_gain_pct"] = pct(r["a1"], base["a1"], lower_is_better=False)
        r["inconsistency_gain_pct"] = pct(r["inconsistency_m"], base["inconsistency_m"])
    head = (f"{'variant':<14}{'AbsRel':>9}{'(%)':>8}{'RMSE':>9}{'(%)':>8}{'δ1':>8}{'(%)':>8}"
            f"{'incons m':>10}{'(%)':>8}")
    print(f"held-out simulator scenes ({heldout.name}), {conf['steps']} steps each, "
          f"% = improvement vs supervised")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['variant']:<14}{r['abs_rel']:>9.4f}{r['abs_rel_gain_pct']:>+8.1f}"
              f"{r['rmse']:>9.3f}{r['rmse_gain_pct']:>+8.1f}{r['a1']:>8.3f}{r['a1_gain_pct']:>+8.1f}"
              f"{r['inconsistency_m']:>10.3f}{r['inconsistency_gain_pct']:>+8.1f}")
    return {"steps": steps or conf["steps"], "eval": "data/heldout", "rows": rows}


if __name__ == "__main__":
    main(REPO / "benchmarks" / "results")
