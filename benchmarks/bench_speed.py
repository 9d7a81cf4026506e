"""Speed: student vs bundled teacher vs Depth Anything V2-Small (random weights, real config).

``python -m benchmarks.run_all speed`` (full mode: DA-V2-Small also at its real 518 px
setting; several minutes on a 2-core CPU) - ``fsmde bench speed`` is the quick variant.
Set ``FSMDE_BENCH_QUICK=1`` to run the quick variant here too.
"""
from __future__ import annotations

import os
from pathlib import Path


def main(out_dir: Path) -> dict:
    from fsmde_gui.models.inference import apply_thread_setting
    from fsmde_gui.models.speed import run_speed

    apply_thread_setting()
    quick = os.environ.get("FSMDE_BENCH_QUICK", "") not in ("", "0")
    return run_speed(quick=quick)
