"""``--version`` and ``--scenes``: the options every command that opens a dataset shares."""
from __future__ import annotations

from typing import Optional


def parse_scene_list(text: Optional[str]) -> Optional[list[str]]:
    """``"scene-0061,scene-0103"`` -> the names; None or blank -> None (all scenes)."""
    if text is None:
        return None
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    return names or None


def add_dataset_options(parser) -> None:
    parser.add_argument("--version", default=None, metavar="v1.0-*",
                        help="nuScenes release to open when the folder holds several "
                             "(v1.0-mini, v1.0-trainval, v1.0-test; default: mini first). "
                             "--dataset DIR/v1.0-trainval works too")
    parser.add_argument("--scenes", default=None, metavar="NAME,NAME",
                        help="only these scenes, comma-separated (e.g. scene-0061,scene-0103)")


def dataset_options(args) -> dict:
    """``open_dataset`` keyword arguments from the parsed options."""
    return {"version": getattr(args, "version", None) or None,
            "scenes": parse_scene_list(getattr(args, "scenes", None))}
