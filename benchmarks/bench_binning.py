"""Which depth binning: the measured comparison behind the student's default (docs/METHOD.md).

Three binnings of the supervised student (same data, steps, seeds; only the bin layout and
the coverage loss differ), evaluated on the held-out preset: accuracy and bin coverage
(distinct centres, median distance from a LiDAR depth to its image's nearest centre).

* ``linear``: the first release (widths over [d_min, d_max] in metres, no floor, no chamfer);
* ``log+floor``: widths over log depth with a spread floor of 0.5 (the default);
* ``log+floor+chamfer``: the default plus AdaBins' bin-centre chamfer loss (weight 0.1).

Run: ``.venv/bin/python -m benchmarks.run_all binning``; ``FSMDE_BINNING_STEPS`` (default 600),
``FSMDE_BINNING_SEEDS`` (default ``0,1``), ``FSMDE_BINNING_JOBS`` (default 2).
"""
from __future__ import annotations

import os
from pathlib import Path

from benchmarks.bench_ablation import env_settings, format_rows, run_rows

LINEAR = {"bin_space": "linear", "bin_floor": 0.0}
LOG = {"bin_space": "log", "bin_floor": 0.5}
VARIANTS = [
    ("linear", {"recipe": "supervised", "student": LINEAR, "bin_chamfer_weight": 0.0}, None),
    ("log+floor", {"recipe": "supervised", "student": LOG, "bin_chamfer_weight": 0.0}, None),
    ("log+floor+chamfer", {"recipe": "supervised", "student": LOG, "bin_chamfer_weight": 0.1},
     None),
]


def main(out_dir: Path) -> dict:
    steps, seeds, jobs_n = env_settings("FSMDE_BINNING", "0,1")
    steps = steps or int(os.environ.get("FSMDE_BINNING_DEFAULT_STEPS", "600"))
    rows, runs, n_steps = run_rows(VARIANTS, steps, seeds, jobs_n, tag="binning")
    print(f"binning of the supervised student, held-out preset, {n_steps} steps, seeds {seeds}: "
          f"mean±std; gain % vs linear, * = gain > 2 std")
    print(format_rows(rows))
    return {"steps": n_steps, "seeds": seeds, "rows": rows, "runs": runs}
