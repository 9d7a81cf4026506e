"""`fsmde generate`: render simulator scenes into a nuScenes-format dataset folder."""
from __future__ import annotations

import argparse
import sys
import time

from fsmde_gui.core.errors import FsmdeError
from fsmde_gui.data.simulator.generate import generate_dataset
from fsmde_gui.data.simulator.presets import MAX_SEED, PRESETS
from fsmde_gui.data.simulator.preview import save_preview


def register(sub) -> None:
    p = sub.add_parser("generate", help="render surround-view simulator scenes (nuScenes format)",
                       description="Render surround-view street scenes with the simulator and "
                                   "write them in nuScenes v1.0-mini format plus dense GT maps.")
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument("--preset", default="sample", choices=sorted(PRESETS),
                   help="dataset size/distribution (default: sample)")
    p.add_argument("--seed", type=int, default=0, help="seed 0..999 (default 0)")
    p.add_argument("--scenes", type=int, default=None, help="override the preset's scene count")
    p.add_argument("--frames", type=int, default=None, help="override frames per scene")
    p.add_argument("--width", type=int, default=None, help="override image width")
    p.add_argument("--height", type=int, default=None, help="override image height")
    p.add_argument("--preview", default=None, metavar="PNG",
                   help="also save a mosaic of the first frame (6 views + GT maps)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag, value, lo, hi in (("--seed", args.seed, 0, MAX_SEED),
                                ("--width", args.width, 16, 4096), ("--height", args.height, 16, 4096),
                                ("--scenes", args.scenes, 1, 1000), ("--frames", args.frames, 1, 100000)):
        if value is not None and not lo <= value <= hi:
            raise FsmdeError(f"{flag} {value}: must be between {lo} and {hi}")
    t0 = time.perf_counter()

    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if args.quiet:
            return
        rate = done / max(time.perf_counter() - t0, 1e-9)
        if tty:
            print(f"\rframe {done}/{total} ({rate:.2f} frames/s)", end="", file=sys.stderr,
                  flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"frame {done}/{total} ({rate:.2f} frames/s)", file=sys.stderr, flush=True)

    summary = generate_dataset(args.out, preset=args.preset, seed=args.seed, progress=progress,
                               num_scenes=args.scenes, num_frames=args.frames,
                               width=args.width, height=args.height)
    if not args.quiet and tty:
        print(file=sys.stderr)
    print(f"wrote {summary['frames']} frames ({summary['scenes']} scenes x "
          f"{summary['frames_per_scene']}, {summary['width']}x{summary['height']}) to "
          f"{summary['out']} in {summary['seconds']:.1f} s ({summary['frames_per_s']:.2f} "
          f"frames/s); scene seeds {summary['scene_seeds'][0]}..{summary['scene_seeds'][-1]}")
    if args.preview:
        print(f"preview: {save_preview(summary['out'], args.preview)}")
    return 0
