"""`make bench`: run every ``benchmarks/bench_*.py`` (each has ``main(out_dir) -> dict``),
print its table and write JSON results under ``benchmarks/results/``.

Run one: ``python -m benchmarks.run_all speed``  (name without the ``bench_`` prefix).
"""
from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if argv:
        names = [n for n in names if n.removeprefix("bench_") in argv]
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            result = importlib.import_module(f"benchmarks.{name}").main(out_dir)
        except Exception:  # a failing benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
            continue
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=float))
        print(f"({name}: {time.perf_counter() - t0:.1f} s, results/{name}.json)")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
