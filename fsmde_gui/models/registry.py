"""Named models: ``student_kd`` -> ``models/student_kd.pt``, ``dav2:<folder>``, ``onnx:<file>``.

The shipped checkpoints live in the project folder's ``models/`` (:mod:`fsmde_gui.paths`:
the source checkout, or ``FSMDE_HOME``; override the folder alone with the environment
variable ``FSMDE_MODELS_DIR``), each with a JSON model card beside it
(``<name>.json``, written by training). Any plain name maps to ``<models dir>/<name>.pt``;
the names below are the ones the project ships and documents. ``dav2:<local folder>`` names
a Depth Anything V2 model saved with ``save_pretrained`` (nothing is downloaded).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..core.errors import CheckpointError, FsmdeError
from ..paths import MODELS_DIR


KNOWN_MODELS: dict[str, str] = {
    "student_kd": "student distilled from the bundled teacher (SILog + CKD + VRKD)",
    "student_supervised": "student trained on sparse LiDAR GT only (the P1 baseline)",
    "student_kd_real": "student_kd fine-tuned on one real nuScenes scene (LiDAR + CKD + VRKD)",
    "teacher_sim": "bundled relative-depth teacher (~9.5 M params, disparity)",
    "teacher_briges": "bundled teacher + BriGeS bridging gate with the semantic net",
    "student_reflection_ssl": "student + intrinsic decomposition, reflection-aware self-supervision",
}
DAV2_PREFIX = "dav2:"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class UnknownModelError(FsmdeError, ValueError):
    """A model name that cannot name a checkpoint."""


MODELS_DIR_ENV = "FSMDE_MODELS_DIR"


def models_dir() -> Path:
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else MODELS_DIR


def is_dav2(name: str) -> bool:
    return str(name).startswith(DAV2_PREFIX)


def dav2_folder(name: str) -> Path:
    folder = str(name)[len(DAV2_PREFIX):]
    if not folder:
        raise UnknownModelError("dav2: needs a local folder, e.g. dav2:/data/depth-anything-v2-small")
    return Path(folder).expanduser()


ONNX_PREFIX = "onnx:"


def is_onnx(name) -> bool:
    """``onnx:<file or name>`` or a path ending in ``.onnx`` (an exported student, run by ONNX
    Runtime; ``fsmde export-model`` writes them)."""
    name = str(name)
    return name.startswith(ONNX_PREFIX) or name.lower().endswith(".onnx")


def onnx_file(name) -> Path:
    """The .onnx file an ONNX spec names: ``onnx:student_kd`` -> ``<models dir>/student_kd.onnx``,
    ``onnx:out/s.onnx`` / ``out/s.onnx`` -> that path."""
    spec = str(name).removeprefix(ONNX_PREFIX)
    if not spec:
        raise UnknownModelError("onnx: needs a file, e.g. onnx:out/student_kd.onnx")
    p = Path(spec).expanduser()
    if not p.suffix and not p.exists() and _NAME.match(spec):
        return models_dir() / f"{spec}.onnx"
    return p


def model_path(name: str) -> Path:
    """The checkpoint file a model name refers to (it may not exist yet)."""
    name = str(name)
    if is_dav2(name):
        return dav2_folder(name)
    if not _NAME.match(name) or name in (".", ".."):
        raise UnknownModelError(f"{name!r} is not a model name (known: {', '.join(KNOWN_MODELS)}, "
                                f"or dav2:<folder>, or a checkpoint path)")
    return models_dir() / f"{name.removesuffix('.pt')}.pt"


def looks_like_path(spec: str) -> bool:
    """A spec with a file suffix (``x.pt``), a folder part (``runs/a/model.pt``) or ``~``."""
    p = Path(spec)
    return bool(p.suffix) or len(p.parts) > 1 or spec.startswith("~")


def resolve_model(name_or_path) -> Path:
    """The file (or folder) a model spec names; the one rule set every loader uses.

    In order: ``dav2:<folder>`` -> that Depth Anything folder; ``onnx:<name or file>`` or a
    ``.onnx`` path -> the ONNX file (:func:`onnx_file`); an existing file or folder -> itself;
    anything that looks like a path (a suffix such as ``.pt``, a folder part, ``~``) -> that
    path, even when missing (the loader's error then names it); a plain name -> the shipped
    checkpoint ``<models dir>/<name>.pt`` (:func:`model_path`, which rejects names that
    cannot name a checkpoint). The result may not exist; :func:`require_model` checks that.
    """
    spec = str(name_or_path).strip()
    if not spec:
        raise UnknownModelError(f"an empty model name (known: {', '.join(KNOWN_MODELS)}, "
                                f"or dav2:<folder>, onnx:<file>, or a checkpoint path)")
    if is_dav2(spec):
        return dav2_folder(spec)
    if is_onnx(spec):
        return onnx_file(spec)
    path = Path(spec).expanduser()
    if path.exists() or looks_like_path(spec):
        return path
    return model_path(spec)


def require_model(name_or_path) -> Path:
    """:func:`resolve_model`, and a CheckpointError naming the file when it is not there
    (for a shipped name, with how to build it)."""
    path = resolve_model(name_or_path)
    if path.exists():
        return path
    spec = str(name_or_path).strip()
    if is_dav2(spec) or is_onnx(spec) or looks_like_path(spec):
        raise CheckpointError(path, "model file not found")
    raise CheckpointError(path, f"model {spec!r} is not there yet (train it with "
                                f"`fsmde models --out {models_dir()}` or `fsmde train`, or "
                                f"point {MODELS_DIR_ENV} at a folder that has it)")


def model_card(name: str) -> dict | None:
    """The JSON card beside a shipped checkpoint, or None when there is none / it is unreadable."""
    path = model_path(name).with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def list_models(include_unknown: bool = True) -> list[dict]:
    """The known names (and, optionally, other ``*.pt`` files in the models folder)."""
    rows = []
    names = list(KNOWN_MODELS)
    if include_unknown and models_dir().is_dir():
        names += sorted(p.stem for p in models_dir().glob("*.pt") if p.stem not in KNOWN_MODELS)
    for name in names:
        path = model_path(name)
        rows.append({"name": name, "path": str(path), "exists": path.exists(),
                     "description": KNOWN_MODELS.get(name, "")})
    return rows
