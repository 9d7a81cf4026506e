"""`fsmde export`: annotated composite PNG, fused PLY and metrics JSON of a frame (or a
whole scene as a PNG sequence + MP4), the same images the app shows, headless."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

from ..app_model.session import DEFAULT_STUDENT, DEFAULT_TEACHER, Session
from ..app_model.tiles import MODES
from ..core.errors import DatasetError, FsmdeError
from ..export.frame_export import export_frame
from ..export.sequence_export import export_sequence
from .dataset_args import add_dataset_options, dataset_options
from .progress import ProgressBar


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export annotated frames (PNG, PLY, JSON, MP4)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="dataset folder (nuScenes, DDAD or simulator)")
    p.add_argument("--frame", type=int, default=0, help="frame index within the scene (default 0)")
    p.add_argument("--scene", default=None,
                   help="scene index or name (default: the first scene with frames)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mode", default="student",
                   help="tile mode: rgb, student, teacher, gt, error, diff, entropy, reflection")
    p.add_argument("--all-frames", action="store_true",
                   help="export the whole scene as a numbered PNG sequence and an MP4")
    p.add_argument("--fps", type=float, default=5.0, help="MP4 frame rate (default 5)")
    p.add_argument("--boxes", action="store_true", help="draw the 3D boxes into the tiles")
    p.add_argument("--student", default=None, help="student model name or checkpoint")
    p.add_argument("--teacher", default=None, help="teacher model name or checkpoint")
    add_dataset_options(p)
    p.set_defaults(func=run)


def resolve_scene(session, spec: str) -> int:
    names = [s.name for s in session.scenes]
    if spec in names:
        return names.index(spec)
    try:
        idx = int(spec)
    except ValueError:
        raise DatasetError(session.root, f"no scene named {spec!r} (scenes: {', '.join(names)})") from None
    if not 0 <= idx < len(names):
        raise DatasetError(session.root, f"scene {idx} is out of range ({len(names)} scenes)")
    return idx


def run(args) -> int:
    if args.mode not in MODES:
        raise FsmdeError(f"unknown --mode {args.mode!r}; choose from {', '.join(MODES)}")
    if not 0 < args.fps <= 240:  # NaN fails too
        raise FsmdeError(f"--fps {args.fps:g}: must be a frame rate, 0 < fps <= 240")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FsmdeError(f"{out}: exists and is not a folder (--out)")
    # the data first: a bad folder, scene or frame fails before the models load
    session = Session(load_models=False)
    session.open(args.dataset, **dataset_options(args))
    scene = (resolve_scene(session, args.scene) if args.scene is not None
             else session.dataset.first_scene_with_frames())
    n = session.num_frames(scene)
    if n == 0:
        raise FsmdeError(f"--scene {args.scene}: scene {session.scenes[scene].name} has no frames")
    if not args.all_frames and not 0 <= args.frame < n:
        raise FsmdeError(f"--frame {args.frame}: out of range, scene {scene} "
                         f"({session.scenes[scene].name}) has frames 0..{n - 1}")
    for slot, given, default in (("student", args.student, DEFAULT_STUDENT),
                                 ("teacher", args.teacher, DEFAULT_TEACHER)):
        if not session.set_model(slot, given or default) and given:
            # a model the user named must load (a default may be missing: a note)
            raise FsmdeError(f"--{slot} {given}: {session.notes[slot]}")
    for slot, note in session.notes.items():
        print(f"{slot}: {note}", file=sys.stderr)
    if args.all_frames:
        # a progress bar on a terminal only (logs and error output stay clean)
        bar = ProgressBar("export") if sys.stderr.isatty() else None
        try:
            res = export_sequence(session, scene, out, args.mode, fps=args.fps, progress=bar,
                                  cancel=threading.Event(), boxes=args.boxes)
        finally:
            if bar is not None:
                bar.close()  # an error line then starts on a line of its own
        print(f"wrote {res['frames']} PNGs to {out}"
              + (f" and {res['mp4']} ({res['codec']})" if res["mp4"] else ""))
        if res["mp4"] and not res["browser_playable"]:
            print(f"note: this OpenCV has no H.264 or VP9 encoder; {res['mp4'].name} is "
                  f"{res['codec']}, which browsers do not play (VLC does)", file=sys.stderr)
        return 0
    a = session.analysis(scene, args.frame)
    written = export_frame(a, out, mode=args.mode, boxes=args.boxes)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    for key, note in sorted(a.unavailable.items()):
        print(f"  {key}: {note}", file=sys.stderr)
    return 0
