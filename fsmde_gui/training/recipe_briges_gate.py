"""``fsmde train --recipe briges-gate``: train only the BriGeS Bridging Gates (docs/METHOD.md P2).

Both foundation encoders are frozen (the bundled relative-depth teacher ``teacher_sim`` and
the bundled semantic net ``semantic_sim`` by default; any checkpoint path, or a local Segment
Anything folder for the semantic side). The depth teacher's decoder is frozen too: gradients
pass through it to the gates. Loss (authors' recipe): the prediction is min-max normalised
per image to [0, 1], then the scale-and-shift-invariant loss in disparity space plus
multi-scale gradient matching against the simulator's dense GT.

Options (``--set extra.KEY=VALUE``): ``depth_model`` (default: ``teacher_checkpoint``, i.e.
``teacher_sim``), ``semantic_model`` (``semantic_sim``; a plain name is looked up first beside
the depth model's file, then in ``models/``; a folder = Segment Anything via transformers),
``tau`` (attention temperature, default 2.0), ``levels`` (gated depth levels, default all),
``num_heads`` (4), ``max_tokens`` (1024), ``views_per_step`` (default 6 = all; fewer, e.g. 2,
random views per step, cuts the CPU cost: the gate works per view). Base models inside the models folder are stored in
the checkpoint by name (``teacher_sim``), others by path.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..core.errors import CheckpointError, TrainingError
from ..models.bridging_gate import GateConfig
from ..models.briges import BriGeS, load_depth_model, load_semantic_model
from ..models.registry import models_dir
from . import losses as L
from .recipes import Recipe, register_recipe, unwrap

log = logging.getLogger(__name__)

GATE_OPTIONS = ("depth_model", "semantic_model", "tau", "levels", "num_heads", "max_tokens",
                "mlp_ratio", "views_per_step")


def minmax_normalise(x: torch.Tensor) -> torch.Tensor:
    """Per image (last two dims) to [0, 1], as the authors' training does."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return (x - lo) / (hi - lo + 1e-6)


def affine_invariant_loss(pred_disp: torch.Tensor, gt_depth: torch.Tensor, max_depth: float,
                          grad_weight: float = 0.5, ssi_weight: float = 1.0) -> dict:
    """Min-max normalised prediction vs dense GT: SSI (disparity) + gradient matching."""
    gt = gt_depth.clone()
    gt[gt > max_depth] = 0  # sky / beyond range: no target
    pred = minmax_normalise(pred_disp)
    ssi = L.ssi_loss(pred, gt)
    grad = L.gradient_matching_loss(pred, gt)
    return {"ssi": ssi, "grad": grad, "total": ssi_weight * ssi + grad_weight * grad}


def stored_name(name_or_path: str) -> str:
    """A model inside the models folder -> its name (portable); anything else unchanged."""
    p = Path(str(name_or_path))
    if p.suffix != ".pt" or not p.exists():
        return str(name_or_path)
    try:
        if p.resolve().parent == models_dir().resolve():
            return p.stem
    except OSError:
        pass
    return str(p.resolve())


def semantic_beside(depth_name: str, semantic_name: str) -> str:
    """A plain semantic model name is looked up beside the depth model's checkpoint first."""
    sem, dep = Path(semantic_name), Path(depth_name)
    if sem.suffix or sem.exists() or "/" in semantic_name or dep.suffix != ".pt":
        return semantic_name
    candidate = dep.parent / f"{semantic_name}.pt"
    return str(candidate) if candidate.exists() else semantic_name


def build_briges_from_config(cfg, device: torch.device) -> BriGeS:
    extra = dict(cfg.extra or {})
    unknown = set(extra) - set(GATE_OPTIONS) - {"cache_teacher", "find_unused_parameters"}
    if unknown:
        raise TrainingError(f"briges-gate: unknown option(s) extra.{sorted(unknown)}; "
                            f"known: {list(GATE_OPTIONS)}")
    depth_name = str(extra.get("depth_model") or cfg.teacher_checkpoint or "teacher_sim")
    semantic_name = semantic_beside(depth_name, str(extra.get("semantic_model", "semantic_sim")))
    try:
        gate = GateConfig(tau=float(extra.get("tau", 2.0)), levels=extra.get("levels"),
                          num_heads=int(extra.get("num_heads", 4)),
                          max_tokens=int(extra.get("max_tokens", 1024)),
                          mlp_ratio=float(extra.get("mlp_ratio", 4.0)))
        if gate.tau <= 0:
            raise ValueError(f"tau must be > 0, got {gate.tau}")
        depth = load_depth_model(depth_name)
        semantic = load_semantic_model(semantic_name)
        model = BriGeS(depth, semantic, gate,
                       base_names={"depth_model": stored_name(depth_name),
                                   "semantic_model": stored_name(semantic_name)})
    except CheckpointError as exc:
        raise TrainingError(f"briges-gate needs its frozen base models: {exc} (train them with "
                            "`fsmde train --recipe teacher` / `--recipe semantic`, or pass "
                            "extra.depth_model / extra.semantic_model)") from exc
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"briges-gate: bad gate option: {exc}") from exc
    return model.to(device)


@register_recipe("briges-gate")
class BriGeSGateRecipe(Recipe):
    """Gate-only training of BriGeS on dense simulator GT."""

    arch = "briges"
    needs = "dense"

    def __init__(self, cfg, device: torch.device):
        super().__init__(cfg, device)
        self.model = build_briges_from_config(cfg, device)
        self.views_per_step = int(cfg.extra.get("views_per_step", 6))
        if self.views_per_step < 1:
            raise TrainingError(f"briges-gate: views_per_step must be >= 1, got {self.views_per_step}")
        self.view_rng = torch.Generator().manual_seed(int(cfg.seed) + 7919)
        want = tuple(unwrap(self.model).input_size)
        if tuple(cfg.image_size) != want:
            log.warning("briges-gate: training at %s but the depth teacher runs at %s "
                        "(--set image_size=[%d,%d] to match)", tuple(cfg.image_size), want, *want)

    def parameters(self):
        return unwrap(self.model).trainable_parameters()

    def model_config(self) -> dict:
        return unwrap(self.model).config_dict

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        if float(batch["has_dense"].min()) < 1:
            raise TrainingError("briges-gate needs dense GT depth (a simulator dataset)")
        images, depth = batch["images"], batch["depth_dense"]
        if self.views_per_step < images.shape[1]:
            pick = torch.randperm(images.shape[1], generator=self.view_rng)[: self.views_per_step]
            pick = pick.sort().values.to(images.device)
            images, depth = images[:, pick], depth[:, pick]
        out = self.model(images)
        return affine_invariant_loss(out["relative"], depth, self.cfg.max_depth,
                                     grad_weight=self.cfg.grad_match_weight,
                                     ssi_weight=self.cfg.ssi_weight)
