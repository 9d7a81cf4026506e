"""`fsmde info`: what a dataset folder holds, after checking every table and referenced file.

    fsmde info --dataset resources/nuscenes-keyframe [--json info.json]
    fsmde info --dataset /data/nuscenes --version v1.0-trainval --scenes scene-0061,scene-0103

Bad input exits 2 with one line naming the file and the problem.
"""
from __future__ import annotations

from ..core.atomic_io import atomic_write_json
from ..core.errors import DatasetError
from ..data.detect import open_dataset
from .dataset_args import add_dataset_options, dataset_options


MAX_IMAGE_SIDE = 8192  # pixels: a larger --image-size is a typo (and gigabytes per frame)


def parse_size(text: str | None):
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DatasetError(None, f"--image-size must be WxH (e.g. 448x256), got {text!r}") from None
    if not (8 <= w <= MAX_IMAGE_SIDE and 8 <= h <= MAX_IMAGE_SIDE):
        raise DatasetError(None, f"--image-size {text}: width and height must be between 8 and "
                                 f"{MAX_IMAGE_SIDE} pixels")
    return w, h


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe and check a dataset folder",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="nuScenes, simulator or DDAD/DGP folder")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the summary as JSON")
    p.add_argument("--image-size", default=None, metavar="WxH",
                   help="describe the frames as loaded at this size")
    add_dataset_options(p)
    p.set_defaults(func=run)


def write_json_atomic(path, obj) -> None:
    atomic_write_json(path, obj)


def format_info(info: dict) -> str:
    lines = [
        f"dataset   {info['root']}",
        f"format    {info['format']}" + (f" ({info['version']})" if info.get("version") else "")
        + (f"; versions here: {', '.join(info['versions'])}"
           if len(info.get("versions") or []) > 1 else ""),
        f"scenes    {info['num_scenes']}",
        f"frames    {info['num_frames']}",
        f"files     {info['num_files_checked']} checked",
        f"lidar     {info['lidar_points']} points (frame 0)",
        f"gt        {', '.join(info['gt_kinds']) or 'none'}"
        + (f"; {info['num_boxes']} boxes" if info.get("num_boxes") else
           ("" if info.get("boxes") else "; no boxes")),
    ]
    if info.get("class_names"):
        lines.append(f"classes   {len(info['class_names'])}: {', '.join(info['class_names'])}")
    lines.append("cameras")
    lines.append(f"  {'name':<16}{'size':>11}{'fx':>10}{'fy':>10}{'cx':>9}{'cy':>9}{'lidar px':>10}")
    for c in info["cameras"]:
        lines.append(f"  {c['name']:<16}{c['width']:>6}x{c['height']:<4}{c['fx']:>10.2f}"
                     f"{c['fy']:>10.2f}{c['cx']:>9.2f}{c['cy']:>9.2f}{c['lidar_pixels']:>10}")
    if info.get("camera_mapping"):
        lines.append("camera mapping (by yaw): " + ", ".join(
            f"{k}={v}" for k, v in info["camera_mapping"].items()))
    lines.append("scenes:")
    for s in info["scenes"][:20]:
        lines.append(f"  {s['name']}: {s['frames']} frames")
    if len(info["scenes"]) > 20:
        lines.append(f"  ... {len(info['scenes']) - 20} more")
    return "\n".join(lines)


def run(args) -> int:
    try:
        ds = open_dataset(args.dataset, image_size=parse_size(args.image_size),
                          **dataset_options(args))
        info = ds.describe()
    except OSError as exc:
        raise DatasetError(getattr(exc, "filename", None) or args.dataset,
                           exc.strerror or str(exc)) from None
    print(format_info(info))
    if args.json:
        write_json_atomic(args.json, info)
        print(f"wrote {args.json}")
    return 0
