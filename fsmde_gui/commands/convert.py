"""`fsmde convert`: write a dataset in another format (DDAD's DGP layout).

    fsmde convert --dataset SRC --to dgp --out DIR [--image-size WxH] [--overwrite]

The output folder is written beside DIR and renamed into place when complete.
"""
from __future__ import annotations

import sys

from ..core.errors import DatasetError
from ..data.detect import open_dataset
from ..data.dgp_writer import write_dgp
from .info import parse_size


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="write a dataset in DGP (DDAD) format",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="source folder (nuScenes, simulator, DGP)")
    p.add_argument("--to", required=True, choices=("dgp",), help="output format")
    p.add_argument("--out", required=True, help="output folder (must be empty or new)")
    p.add_argument("--image-size", default=None, metavar="WxH", help="resize images on the way")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    def progress(done: int, total: int) -> None:
        print(f"\rframe {done}/{total}", end="" if done < total else "\n", file=sys.stderr,
              flush=True)

    try:
        ds = open_dataset(args.dataset, image_size=parse_size(args.image_size))
        summary = write_dgp(ds, args.out, progress=progress, overwrite=args.overwrite)
    except OSError as exc:
        raise DatasetError(getattr(exc, "filename", None) or args.out,
                           exc.strerror or str(exc)) from None
    print(f"wrote {summary['out']}: {summary['scenes']} scenes, {summary['frames']} frames, "
          f"{summary['images']} images, {summary['point_clouds']} point clouds (DGP)")
    return 0
