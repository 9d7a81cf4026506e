"""Training recipes: what is trained, from what, with which losses.

Recipe protocol (every recipe, built-in or plug-in)
---------------------------------------------------
A recipe is a class registered with ``@register_recipe("name")``:

* ``__init__(self, cfg: TrainConfig, device: torch.device)`` builds its networks from
  ``cfg``; the one network being trained is ``self.model`` (an ``nn.Module``; the trainer may
  replace it by a ``DistributedDataParallel`` wrapper, so call it as ``self.model(x)`` and
  reach the bare net with :func:`unwrap`). Frozen helpers (teachers) are plain attributes.
* class attributes ``arch`` (architecture name written into the exported checkpoint, e.g.
  ``"student"``) and ``needs`` (``"sparse"`` or ``"dense"``: which GT the recipe uses).
* ``parameters(self)`` -> iterable of trainable parameters (default: ``self.model``'s).
* ``step(self, batch: dict) -> dict[str, Tensor]``: the loss terms of one batch, including
  ``"total"`` (the one the trainer back-propagates). ``batch`` holds the tensors of
  :mod:`fsmde_gui.training.dataset` with a leading batch dim, plus ``index (B,)``.
* ``model_config(self) -> dict``: the architecture config saved with the checkpoint.
* ``train(self) / eval(self)``: mode switches (defaults handle ``self.model`` only).

Other recipes (``reflection-ssl``, ``briges-gate``, ``semantic``) live in their own modules,
all imported by :mod:`fsmde_gui.training.recipe_registry` (which the package imports), so
:func:`recipe_names` / :func:`get_recipe` see every recipe.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from ..core.adjacency import camera_adjacency
from ..core.atomic_io import atomic_write
from ..core.errors import TrainingError
from ..models.checkpoint import build_model, load_checkpoint
from ..models.registry import resolve_model
from . import losses as L
from .config import TrainConfig
from .dataset import SurroundTrainingSet
from .kd_teacher import load_kd_teacher, teacher_feature
from .photometric import photometric_loss, reprojection_terms, smoothness_loss
from .temporal import TemporalIndex, batch_neighbour_views

log = logging.getLogger(__name__)

RECIPES: dict[str, type] = {}


def register_recipe(name: str) -> Callable[[type], type]:
    """Class decorator: make a recipe available as ``fsmde train --recipe name``."""

    def deco(cls: type) -> type:
        cls.name = name
        RECIPES[name] = cls
        return cls

    return deco


def recipe_names() -> list[str]:
    return sorted(RECIPES)


def get_recipe(name: str) -> type:
    if name not in RECIPES:
        raise TrainingError(f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def unwrap(model: nn.Module) -> nn.Module:
    """The bare network inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def build_student(cfg: TrainConfig) -> nn.Module:
    """A fresh student from ``cfg.student``, or the one in ``cfg.init_checkpoint`` (fine-tune)."""
    if cfg.init_checkpoint:
        return load_init_student(cfg)
    opts = {"min_depth": cfg.min_depth, "max_depth": cfg.max_depth,
            "input_size": list(cfg.image_size)}
    opts.update(cfg.student)
    try:
        return build_model("student", opts)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"bad student config {opts}: {exc}") from exc


def load_init_student(cfg: TrainConfig) -> nn.Module:
    """The student checkpoint ``cfg.init_checkpoint`` to fine-tune; its architecture is kept,
    so the options that define it must agree (a mismatch is an error, not a silent rebuild)."""
    return load_init_checkpoint(cfg, "student", cfg.student,
                                {"input_size": list(cfg.image_size), "min_depth": cfg.min_depth,
                                 "max_depth": cfg.max_depth})


def load_init_checkpoint(cfg: TrainConfig, arch: str, overrides: dict, wanted: dict
                         ) -> nn.Module:
    """The ``arch`` checkpoint ``cfg.init_checkpoint`` to fine-tune. Its architecture comes
    from the checkpoint: architecture ``overrides`` in the run config are an error, and so is
    a stored config value that differs from the run's ``wanted`` one (``input_size`` is the
    run's ``image_size``)."""
    path = resolve_model(cfg.init_checkpoint)
    role = "student" if arch == "student" else "teacher"
    if overrides:
        raise TrainingError(f"init_checkpoint {path}: the {role} architecture comes from the "
                            f"checkpoint; drop the {role} overrides {sorted(overrides)}")
    model, meta = load_checkpoint(path, expected_arch=arch)
    net_cfg = meta.get("config", {})
    for key, value in wanted.items():
        have = net_cfg.get(key)
        have = list(have) if isinstance(have, (list, tuple)) else have
        if have is not None and have != value:
            option = "image_size" if key == "input_size" else key
            raise TrainingError(f"init_checkpoint {path}: the {role} was built for {key}={have}"
                                f", the run asks {option}={value}; set {option} to match")
    return model


def check_extra_options(recipe: str, extra: dict, known) -> None:
    """A typo in ``extra`` must not silently train the default recipe: unknown keys are an
    error naming the recipe and the keys it knows."""
    unknown = set(extra) - set(known)
    if unknown:
        raise TrainingError(f"{recipe}: unknown extra option(s) {sorted(unknown)}; "
                            f"known: {sorted(known)}")


def require_sparse(batch: dict, recipe: str) -> None:
    if float(batch["has_sparse"].min()) < 1:
        raise TrainingError(f"recipe {recipe!r} needs sparse LiDAR depth GT, the dataset has none")


class Recipe:
    """Base class with the protocol's defaults (see module docstring)."""

    name = "base"
    arch = "student"
    needs = "sparse"

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.model: nn.Module = nn.Identity()

    def parameters(self) -> Iterable[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def model_config(self) -> dict:
        net = unwrap(self.model)
        return dict(getattr(net, "config_dict", {}) or {})

    def train(self) -> None:
        self.model.train()

    def eval(self) -> None:
        self.model.eval()

    def step(self, batch: dict) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


@register_recipe("supervised")
class SupervisedRecipe(Recipe):
    """Student on sparse LiDAR GT only (SILog)."""

    arch = "student"

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        self.model = build_student(cfg).to(device)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        require_sparse(batch, self.name)
        out = self.model(batch["images"])
        terms = {"gt": L.silog_loss(out["depth"], batch["depth_sparse"])}
        terms["total"] = self.cfg.gt_weight * terms["gt"]
        add_bin_chamfer(terms, self.cfg, out, batch["depth_sparse"])
        return terms


def add_bin_chamfer(terms: dict, cfg: TrainConfig, out: dict, gt: torch.Tensor) -> None:
    """Add the bin-centre chamfer term (``bin_chamfer_weight`` > 0) to ``terms`` and its total."""
    if cfg.bin_chamfer_weight > 0:
        terms["bin_chamfer"] = L.bin_chamfer_loss(out["bin_centers"], gt)
        terms["total"] = terms["total"] + cfg.bin_chamfer_weight * terms["bin_chamfer"]


def freeze_student_encoder(net: nn.Module) -> list[nn.Module]:
    """``extra.freeze_encoder``: the student's encoder (stem, stages, camera embedding) stops
    training; the decoder and the binning module go on. Returns the frozen modules."""
    frozen = [net.stem, net.stages]
    for module in frozen:
        module.requires_grad_(False)
    if isinstance(net.camera_embed, nn.Parameter):
        net.camera_embed.requires_grad_(False)
    return frozen


@register_recipe("kd")
class DistillationRecipe(Recipe):
    """Student + frozen relative-depth teacher: GT SILog + CKD + VRKD (P1).

    ``ckd_weight`` / ``vrkd_weight`` = 0 switch the terms off (ablation). The teacher's
    outputs for the un-jittered images are computed once per sample and cached
    (``extra.cache_teacher``, default on): the teacher is frozen, so this only saves time.
    ``extra.photo_weight`` > 0 adds the photometric loss against the neighbouring frames
    (t-1 / t+1 of the scene, known ego motion; SSIM + L1, per-pixel min, auto-mask) and
    ``extra.smooth_weight`` (default 1e-3) times edge-aware smoothness: a dense signal on real
    folders whose LiDAR is sparse (nuScenes keyframes are 0.5 s apart).
    """

    arch = "student"
    EXTRA_OPTIONS = {"cache_teacher", "teacher_cache_dir", "vrkd_level", "dense_kd_weight",
                     "ckd_skip_clipped", "ckd_skip_gt", "find_unused_parameters",
                     "photo_weight", "smooth_weight", "freeze_encoder"}

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        check_extra_options("kd", cfg.extra, self.EXTRA_OPTIONS)
        self.model = build_student(cfg).to(device)
        self.frozen = (freeze_student_encoder(self.model)
                       if cfg.extra.get("freeze_encoder") else [])
        self.use_ckd = cfg.ckd_weight > 0 or cfg.ckd_cross_weight > 0
        self.use_vrkd = cfg.vrkd_weight > 0
        self.teacher = None
        if self.use_ckd or self.use_vrkd or float(cfg.extra.get("dense_kd_weight", 0.0)) > 0:
            self.teacher, self.teacher_meta = load_kd_teacher(cfg.teacher_checkpoint)
            self.teacher.to(device)
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        self.cache_teacher = bool(cfg.extra.get("cache_teacher", True))
        self._teacher_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.feature_level = int(cfg.extra.get("vrkd_level", 2))
        self.pairs = None
        self.temporal = None
        if float(cfg.extra.get("photo_weight", 0.0)) > 0:
            self.temporal = TemporalIndex(SurroundTrainingSet.from_config(cfg),
                                          "extra.photo_weight")

    def train(self) -> None:
        super().train()
        for module in self.frozen:  # frozen layers keep their batch-norm statistics too
            module.eval()

    def _pairs(self, batch: dict) -> list[tuple[int, int]]:
        if self.pairs is None:
            self.pairs = adjacent_pairs(batch["K"][0], batch["cam_to_ego"][0],
                                        tuple(batch["images"].shape[-2:]))
        return self.pairs

    @torch.no_grad()
    def _teacher_outputs(self, batch: dict, target_hw: tuple[int, int]):
        """(relative (B,V,1,H,W), feature (B,V,C,h,w) nearest to target_hw), cached per index."""
        idx = [int(i) for i in batch["index"]]
        disk = self.cfg.extra.get("teacher_cache_dir") if self.cache_teacher else None
        if disk:  # shared by runs on the same data + teacher (e.g. the ablation's seeds)
            for i in idx:
                f = Path(disk) / f"{i}.pt"
                if i not in self._teacher_cache and f.exists():
                    self._teacher_cache[i] = tuple(torch.load(f, weights_only=True))
        if self.cache_teacher and all(i in self._teacher_cache for i in idx):
            rel, feat = zip(*(self._teacher_cache[i] for i in idx))
            return torch.stack(rel), torch.stack(feat)
        images = batch["clean_images"] if self.cache_teacher else batch["images"]
        out = self.teacher(images)
        feat = teacher_feature(out["features"], target_hw)
        rel = out["relative"].float()
        if self.cache_teacher:
            for k, i in enumerate(idx):
                self._teacher_cache[i] = (rel[k].clone(), feat[k].float().clone())
                if disk:
                    Path(disk).mkdir(parents=True, exist_ok=True)
                    atomic_write(Path(disk) / f"{i}.pt",
                                 lambda fh, item=self._teacher_cache[i]: torch.save(list(item), fh))
        return rel, feat.float()

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        require_sparse(batch, self.name)
        out = self.model(batch["images"])
        gt_map = batch["depth_sparse"]
        terms = {"gt": L.silog_loss(out["depth"], gt_map)}
        total = cfg.gt_weight * terms["gt"]
        if self.teacher is not None:
            s_feat = out["features"][self.feature_level]
            rel, t_feat = self._teacher_outputs(batch, tuple(s_feat.shape[-2:]))
            dense_w = float(cfg.extra.get("dense_kd_weight", 0.0))
            aligned = self.use_ckd and cfg.ckd_mode == "aligned"
            if aligned or dense_w > 0:
                t_metric, _ = L.align_disparity_to_depth(
                    rel, gt_map, cfg.min_depth, cfg.max_depth, reference=out["depth"])
            if dense_w > 0:  # diagnostic: distil the aligned teacher depth itself (SILog)
                valid = (t_metric > cfg.min_depth) & (t_metric < 0.999 * cfg.max_depth)
                terms["dense_kd"] = L.silog_loss(out["depth"], t_metric, mask=valid)
                total = total + dense_w * terms["dense_kd"]
            if self.use_ckd:
                if aligned:
                    ckd = self._aligned_ckd(out, rel, t_metric, gt_map)
                else:
                    ckd = L.ckd_losses(out["bin_probs"], out["bin_centers"], rel, gt_map,
                                       norm=cfg.ckd_norm)
                terms.update(ckd)
                total = total + cfg.ckd_weight * ckd["ckd_kl"] \
                    + cfg.ckd_cross_weight * ckd["ckd_cross"]
            if self.use_vrkd:
                vr = L.vrkd_loss(s_feat, t_feat, self._pairs(batch), batch["cam_to_ego"][0],
                                 tau=cfg.vrkd_tau, frac=cfg.vrkd_strip)
                terms["vrkd"] = vr
                total = total + cfg.vrkd_weight * vr
        if self.temporal is not None:
            total = total + self._photometric(batch, out, terms)
        terms["total"] = total
        add_bin_chamfer(terms, cfg, out, gt_map)
        return terms

    def _photometric(self, batch: dict, out: dict, terms: dict) -> torch.Tensor:
        """The weighted photometric + smoothness terms (recorded in ``terms``)."""
        extra = self.cfg.extra
        depth = out["depth"].flatten(0, 1)
        target = batch.get("clean_images", batch["images"]).flatten(0, 1)
        sources, src_T, _ = batch_neighbour_views(self.temporal, batch, self.device)
        rep = reprojection_terms(target, sources, depth, src_T, batch["K"].flatten(0, 1).float())
        terms["photo"], _ = photometric_loss(rep)
        terms["smooth"] = smoothness_loss(depth, target)
        return float(extra["photo_weight"]) * terms["photo"] \
            + float(extra.get("smooth_weight", 1e-3)) * terms["smooth"]

    def _aligned_ckd(self, out: dict, rel: torch.Tensor, t_metric: torch.Tensor,
                     gt_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """The first release's CKD (``ckd_mode="aligned"``), kept as an ablation row."""
        cfg = self.cfg
        t_ckd = t_metric
        if cfg.ckd_align == "student":  # the teacher's shape in the student's own scale
            t_ckd, _ = L.align_disparity_to_depth(rel, out["depth"].detach(), cfg.min_depth,
                                                  cfg.max_depth)
        return L.aligned_ckd_losses(
            out["bin_probs"], out["bin_centers"], t_ckd, gt_map, tau=cfg.ckd_tau,
            assign=cfg.ckd_assign,
            depth_range=((cfg.min_depth, cfg.max_depth)
                         if cfg.extra.get("ckd_skip_clipped") else None),
            skip_gt_pixels=bool(cfg.extra.get("ckd_skip_gt", False)))


@register_recipe("teacher")
class TeacherRecipe(Recipe):
    """The bundled relative teacher on DENSE GT: scale-and-shift-invariant + gradient matching.

    ``extra.sparse_gt=true`` trains on sparse LiDAR depth instead (a real folder: the
    scale-and-shift-invariant loss on the LiDAR pixels only; gradient matching needs dense GT
    and is left out). ``init_checkpoint`` (a ``teacher_sim`` checkpoint, e.g. the shipped one)
    fine-tunes it instead of starting from random weights."""

    arch = "teacher_sim"
    needs = "dense"
    EXTRA_OPTIONS = {"sparse_gt"}

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        check_extra_options("teacher", cfg.extra, self.EXTRA_OPTIONS)
        self.sparse_gt = bool(cfg.extra.get("sparse_gt", False))
        self.model = (load_init_teacher(cfg) if cfg.init_checkpoint
                      else build_teacher(cfg)).to(device)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        if self.sparse_gt:
            require_sparse(batch, "teacher")
            gt = batch["depth_sparse"]
        elif float(batch["has_dense"].min()) < 1:
            raise TrainingError("teacher recipe needs dense GT depth (a simulator dataset); "
                                "on real LiDAR set extra.sparse_gt=true")
        else:
            gt = batch["depth_dense"]
        out = self.model(batch["images"])
        cap = gt.clone()
        cap[cap > self.cfg.max_depth] = 0  # sky / far: no target
        ssi = L.ssi_loss(out["relative"], cap)
        if self.sparse_gt:
            return {"ssi": ssi, "total": self.cfg.ssi_weight * ssi}
        grad = L.gradient_matching_loss(out["relative"], cap)
        return {"ssi": ssi, "grad": grad,
                "total": self.cfg.ssi_weight * ssi + self.cfg.grad_match_weight * grad}


def load_init_teacher(cfg: TrainConfig) -> nn.Module:
    """The ``teacher_sim`` checkpoint ``cfg.init_checkpoint`` to fine-tune (its architecture
    kept: teacher overrides and another run size are errors)."""
    return load_init_checkpoint(cfg, "teacher_sim", cfg.teacher,
                                {"input_size": list(cfg.image_size)})


def build_teacher(cfg: TrainConfig) -> nn.Module:
    opts = {"input_size": list(cfg.image_size)}
    opts.update(cfg.teacher)
    try:
        return build_model("teacher_sim", opts)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"bad teacher config {opts}: {exc}") from exc


def adjacent_pairs(K: torch.Tensor, cam_to_ego: torch.Tensor, hw: tuple[int, int]
                   ) -> list[tuple[int, int]]:
    """Overlapping camera pairs from the rig geometry (core.adjacency), ring order fallback."""
    pairs = camera_adjacency(K.double().cpu().numpy(), cam_to_ego.double().cpu().numpy(), hw)
    return [(int(i), int(j)) for i, j in pairs] or list(L.RING_PAIRS)
