"""Training configuration: one dataclass with offline defaults, overridden by a YAML/JSON file
and ``--set key=value`` pairs (dotted keys reach into the ``student`` / ``teacher`` dicts).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import TrainingError
from ..paths import SAMPLE_SCENES
from ..core.types import MAX_DEPTH_M

DEFAULT_DATASET = SAMPLE_SCENES


@dataclass
class TrainConfig:
    recipe: str = "supervised"
    dataset: str = str(DEFAULT_DATASET)
    dataset_version: str = ""  # nuScenes release (v1.0-trainval, ...); "" = the folder's default
    dataset_scenes: list = field(default_factory=list)  # scene names to train on; [] = all
    out: str = "runs/train"
    image_size: tuple[int, int] = (192, 112)  # (W, H) model input
    max_frames: int = 0  # 0 = all frames of the dataset
    num_workers: int = 0  # DataLoader worker processes decoding the next batches (0 = inline)
    cache_dir: str = ""  # on-disk cache of decoded samples (resized images, LiDAR depth); "" = off
    init_checkpoint: str = ""  # start from this checkpoint (name or path: a student; teacher_sim
    # for the teacher recipe)
    device: str = "cpu"  # cpu | cuda | auto (cuda when present); CPU is the default
    amp: str = "auto"  # mixed precision: auto (bf16 autocast on CUDA, off on CPU) | bf16 | off
    steps: int = 200
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | onecycle | constant
    warmup_steps: int = 10
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # > 0: final.pt holds an exponential moving average of the weights
    seed: int = 0
    num_threads: int = 1  # 2 threads on a busy 2-core machine can be 30x slower (OMP spin)
    checkpoint_every: int = 100
    log_every: int = 10
    color_jitter: float = 0.1  # brightness/contrast/saturation amplitude; 0 disables
    min_depth: float = 0.5
    max_depth: float = MAX_DEPTH_M
    # loss weights
    gt_weight: float = 1.0
    bin_chamfer_weight: float = 0.1  # AdaBins bin-centre chamfer (log depth) vs the image's GT
    ckd_weight: float = 1.0  # KL(q || p) on bin probabilities; 0 disables
    ckd_cross_weight: float = 0.5  # teacher shape x student centres vs GT
    # "ordinal" (P1, default): q = the teacher's relative depth, normalised per image
    # (ckd_norm) onto an ordinal grid whose bin k stands for the student's bin k; no GT and no
    # alignment in q. "aligned" (the first release, an ablation row): q = the LiDAR-aligned
    # metric teacher depth assigned to the student's own centres (ckd_assign, ckd_tau,
    # ckd_align) - the cross term then cannot teach the centres.
    ckd_mode: str = "ordinal"
    ckd_norm: str = "quantile"  # ordinal mode: "quantile" (rank) or "log" (min-max of log)
    ckd_tau: float = 1.0  # aligned mode: soft-assignment temperature (metres), softmax assign
    ckd_assign: str = "linear"  # aligned mode: "linear" (expectation-preserving) or "softmax"
    ckd_align: str = "gt"  # aligned mode: align the teacher to "gt" (LiDAR) or the "student"
    vrkd_weight: float = 1.0  # 0 disables
    vrkd_tau: float = 0.1
    vrkd_strip: float = 0.25  # fraction of the feature width used as facing border strip
    ssi_weight: float = 1.0  # teacher recipe
    grad_match_weight: float = 0.5  # teacher recipe
    # models
    student: dict = field(default_factory=dict)  # StudentConfig overrides
    teacher: dict = field(default_factory=dict)  # teacher config overrides (teacher recipe)
    teacher_checkpoint: str = "teacher_sim"  # kd recipe: checkpoint path or model name
    extra: dict = field(default_factory=dict)  # free-form options for plug-in recipes

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TrainingError(f"{source}: unknown training option(s) {unknown}; "
                                f"known: {sorted(names)}")
        data = dict(data)
        if "image_size" in data:
            size = data["image_size"]
            if not (isinstance(size, (list, tuple)) and len(size) == 2):
                raise TrainingError(f"{source}: image_size must be [W, H], got {size!r}")
            data["image_size"] = (int(size[0]), int(size[1]))
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        for name in ("steps", "batch_size", "num_threads", "log_every", "max_frames",
                     "warmup_steps", "checkpoint_every", "seed", "num_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TrainingError(f"{source}: {name} must be an integer, got {value!r}")
        for name in ("lr", "min_depth", "max_depth", "ckd_tau", "vrkd_tau"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise TrainingError(f"{source}: {name} must be a finite number > 0, got {value!r}")
        weights = [f.name for f in dataclasses.fields(self) if f.name.endswith("_weight")]
        for name in weights + ["weight_decay", "grad_clip", "color_jitter"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise TrainingError(f"{source}: {name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0.0 <= self.ema_decay < 1.0:
            raise TrainingError(f"{source}: ema_decay must be a number in [0, 1) (0 = off), "
                                f"got {self.ema_decay!r}")
        if self.min_depth >= self.max_depth:
            raise TrainingError(f"{source}: min_depth {self.min_depth} must be < max_depth "
                                f"{self.max_depth}")
        if not isinstance(self.dataset_scenes, list) or not all(
                isinstance(n, str) for n in self.dataset_scenes):
            raise TrainingError(f"{source}: dataset_scenes must be a list of scene names, "
                                f"got {self.dataset_scenes!r}")
        for name in ("num_workers", "max_frames", "checkpoint_every", "warmup_steps"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{source}: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("cache_dir", "init_checkpoint"):
            if not isinstance(getattr(self, name), str):
                raise TrainingError(f"{source}: {name} must be a path (text), "
                                    f"got {getattr(self, name)!r}")
        if self.steps < 1:
            raise TrainingError(f"{source}: steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise TrainingError(f"{source}: batch_size must be >= 1, got {self.batch_size}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise TrainingError(f"{source}: device must be cpu|cuda|auto, got {self.device!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise TrainingError(f"{source}: amp must be auto|bf16|off, got {self.amp!r}")
        if self.schedule not in ("cosine", "onecycle", "constant"):
            raise TrainingError(f"{source}: schedule must be cosine|onecycle|constant, "
                                f"got {self.schedule!r}")
        if self.ckd_mode not in ("ordinal", "aligned"):
            raise TrainingError(f"{source}: ckd_mode must be ordinal|aligned, got {self.ckd_mode!r}")
        if self.ckd_norm not in ("quantile", "log"):
            raise TrainingError(f"{source}: ckd_norm must be quantile|log, got {self.ckd_norm!r}")
        if self.ckd_assign not in ("linear", "softmax"):
            raise TrainingError(f"{source}: ckd_assign must be linear|softmax, got {self.ckd_assign!r}")
        if self.ckd_align not in ("student", "gt"):
            raise TrainingError(f"{source}: ckd_align must be student|gt, got {self.ckd_align!r}")
        w, h = self.image_size
        if not (16 <= w <= 4096 and 16 <= h <= 4096):
            raise TrainingError(f"{source}: image_size {w}x{h} must be 16..4096 per side")
        if w % 16 or h % 16:
            raise TrainingError(f"{source}: image_size {w}x{h} must be multiples of 16")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise TrainingError(f"--set value {text[:20]}...: nested too deeply") from None
    except json.JSONDecodeError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text


def apply_overrides(data: dict, pairs: list[str]) -> dict:
    """Apply ``key=value`` pairs (values parsed as JSON when possible; ``a.b=v`` nests)."""
    data = json.loads(json.dumps(data))
    for pair in pairs or []:
        if "=" not in pair:
            raise TrainingError(f"--set {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise TrainingError(f"--set {pair!r}: {p} is not a mapping")
        node[parts[-1]] = _parse_value(value.strip())
    return data


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config file into a dict (clear error naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError / JSONDecodeError
        raise TrainingError(f"{path}: cannot parse config ({exc})") from exc
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: config must be a mapping of option: value")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                **fields) -> TrainConfig:
    """Defaults <- file <- keyword fields <- ``key=value`` overrides."""
    data = TrainConfig().to_dict()
    source = "config"
    if path:
        data.update(read_config_file(path))
        source = str(path)
    data.update({k: v for k, v in fields.items() if v is not None})
    data = apply_overrides(data, overrides or [])
    return TrainConfig.from_dict(data, source)


def _data_key(data: dict) -> tuple:
    """What a run trains on: (resolved folder, release, scenes); ``DIR/v1.0-x`` = (DIR, v1.0-x)."""
    path = Path(str(data.get("dataset", ""))).expanduser().resolve()
    version = str(data.get("dataset_version") or "")
    if path.name.startswith("v1.0-") and version in ("", path.name):
        path, version = path.parent, path.name
    return str(path), version, tuple(data.get("dataset_scenes") or ())


def _describe_data(key: tuple) -> str:
    path, version, scenes = key
    return path + (f" ({version})" if version else "") + \
        (f" scenes {','.join(scenes)}" if scenes else "")


def load_resume_config(path: str | Path | None = None, overrides: list[str] | None = None,
                       **fields) -> TrainConfig:
    """``fsmde train --resume``: the run's saved ``OUT/config.json`` is the base (so a resumed
    run keeps its recipe, data and options), then the file, keyword fields and overrides on
    top, as in :func:`load_config`. They may change anything but the data: another dataset,
    release or scene list is a TrainingError. Without a saved config: :func:`load_config`."""
    file_data = read_config_file(path) if path else {}
    out = fields.get("out") or file_data.get("out") or TrainConfig.out
    saved_path = Path(out) / "config.json"
    if not saved_path.is_file():
        return load_config(path, overrides, **fields)
    saved = read_config_file(saved_path)
    data = TrainConfig().to_dict() | saved | file_data
    data.update({k: v for k, v in fields.items() if v is not None})
    data = apply_overrides(data, overrides or [])
    cfg = TrainConfig.from_dict(data, str(saved_path))
    before, after = _data_key(TrainConfig().to_dict() | saved), _data_key(cfg.to_dict())
    if before != after:
        raise TrainingError(f"{out}: this run trains on {_describe_data(before)}; --resume "
                            f"cannot switch it to {_describe_data(after)} (use a new --out)")
    return cfg
