"""Checkpoint files: one ``torch.save`` dict, safe to read with ``torch.load(weights_only=True)``.

Format (``FORMAT`` / ``VERSION``)::

    {"format": "fsmde-checkpoint", "version": 1,
     "arch": "student",                  # a name in the arch registry
     "config": {...},                    # plain JSON-able dict -> builder(config)
     "state_dict": {name: tensor},
     "meta": {...}}                      # plain values: recipe, step, metrics, data, seed...

Writes are atomic (temp file in the same folder + ``os.replace``). Architectures are built by
name from a registry filled with :func:`register_arch`; every architecture the project ships
is registered in one place, :mod:`fsmde_gui.models.archs` (imported by the package, so
``import fsmde_gui.models.<anything>`` makes them all loadable)::

    register_arch("briges", build_briges)

Every failure raises :class:`~fsmde_gui.core.errors.CheckpointError` naming the file and
saying what was expected.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..core.atomic_io import atomic_write
from ..core.errors import CheckpointError

FORMAT = "fsmde-checkpoint"
VERSION = 1

ArchBuilder = Callable[[dict], nn.Module]
ConfigUpgrade = Callable[[dict], dict]
_ARCHS: dict[str, ArchBuilder] = {}
_UPGRADES: dict[str, ConfigUpgrade] = {}


def register_arch(name: str, builder: ArchBuilder, *, replace: bool = False,
                  upgrade: ConfigUpgrade | None = None) -> None:
    """Make ``load_checkpoint`` able to build ``arch == name``: ``builder(config_dict) -> module``.

    ``upgrade(stored_config) -> config`` (optional) fills in what older checkpoints of that
    arch lack, with the values they were trained with (applied on load only)."""
    if not replace and name in _ARCHS and _ARCHS[name] is not builder:
        raise ValueError(f"architecture {name!r} is already registered")
    _ARCHS[name] = builder
    if upgrade is not None:
        _UPGRADES[name] = upgrade


def registered_archs() -> list[str]:
    return sorted(_ARCHS)


def build_model(arch: str, config: dict | None = None) -> nn.Module:
    """Build a fresh (randomly initialised) model of a registered architecture."""
    if arch not in _ARCHS:
        raise KeyError(f"unknown architecture {arch!r}; registered: {', '.join(registered_archs())}")
    return _ARCHS[arch](dict(config or {}))


def _plain(value: Any, where: str) -> Any:
    """Check that ``value`` only holds types ``weights_only`` loading accepts (and JSON can show)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalar
        return value.item()
    raise TypeError(f"{where} must hold plain values (dict/list/str/number), got {type(value).__name__}")


def save_checkpoint(path: str | Path, model: nn.Module, arch: str | None = None,
                    config: dict | None = None, meta: dict | None = None) -> Path:
    """Write ``model`` atomically to ``path``. ``arch``/``config`` default to the model's own
    (``model.arch`` / ``model.config_dict``). Returns the path."""
    path = Path(path)
    arch = arch or getattr(model, "arch", None)
    if not arch:
        raise ValueError("save_checkpoint needs an arch name (model has no .arch attribute)")
    if config is None:
        config = getattr(model, "config_dict", None)
        if config is None:
            raise ValueError("save_checkpoint needs a config dict (model has no .config_dict)")
    state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": str(arch),
        "config": _plain(config, "config"),
        "state_dict": state_dict,
        "meta": _plain(meta or {}, "meta"),
    }
    return atomic_write(path, lambda fh: torch.save(payload, fh), fsync=True)


def read_checkpoint(path: str | Path, expected_arch: str | None = None) -> dict:
    """Read and validate the checkpoint dict (no model built). Raises CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "checkpoint file not found")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, expected an .pt checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError,
            OSError, AttributeError, KeyError, IndexError, TypeError) as exc:
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip() and "weights_only" not in ln), type(exc).__name__)  # torch's "re-run with weights_only=False" advice is cut
        raise CheckpointError(path, f"not a readable PyTorch checkpoint (corrupt, truncated or "
                                    f"another file type): {first[:200]}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, f"a PyTorch file but not an FSMDE checkpoint (expected a dict "
                                    f"with format={FORMAT!r})")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(path, f"checkpoint format version {version!r} is not supported "
                                    f"(this FSMDE reads up to {VERSION})")
    for key, kind in (("arch", str), ("config", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(path, f"checkpoint field {key!r} missing or not a {kind.__name__}")
    arch = payload["arch"]
    if expected_arch is not None and arch != expected_arch:
        raise CheckpointError(path, f"checkpoint holds a {arch!r} model, expected {expected_arch!r}")
    payload.setdefault("meta", {})
    return payload


def load_checkpoint(path: str | Path, expected_arch: str | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Build the checkpoint's model from the arch registry and load its weights.

    Returns ``(model in eval mode, meta)``; ``meta`` also gets ``arch`` and ``config``.
    """
    path = Path(path)
    payload = read_checkpoint(path, expected_arch)
    arch = payload["arch"]
    if arch not in _ARCHS:
        raise CheckpointError(path, f"unknown architecture {arch!r} (known: "
                                    f"{', '.join(registered_archs())})")
    config = dict(payload["config"])
    if arch in _UPGRADES:
        config = _UPGRADES[arch](config)
    try:
        model = _ARCHS[arch](config)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(path, f"config does not build a {arch!r} model: {exc}") from exc
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:4]) if len(lines) > 1 else lines[0] if lines else ""
        raise CheckpointError(path, f"weights do not match the {arch!r} architecture built from "
                                    f"its config: {detail[:400]}") from exc
    model.to(map_location).eval()
    meta = dict(payload["meta"])
    meta.setdefault("arch", arch)
    meta.setdefault("config", config)
    return model, meta
