"""``fsmde train --recipe reflection-ssl``: reflection-aware self-supervised depth (P3).

One network (:class:`~fsmde_gui.models.intrinsic.ReflectionSSLNet`: student depth + intrinsic
decomposition on a shared encoder) trained with NO depth labels:

* photometric reprojection from frames t-1 / t+1 into t (known metric ego motion, see
  :mod:`.photometric`), SSIM + L1, per-pixel min, auto-mask, edge-aware smoothness;
* reflective pixels (robust Mahalanobis outliers of the predicted residual, see
  :mod:`fsmde_gui.models.reflection`) **excluded** from the photometric loss;
* the decomposition: reconstruction ``|A*S + R - I|``, albedo consistency with the
  neighbour frame's albedo warped into t with the (detached) depth and pose, residual
  sparsity and shading smoothness;
* optional pseudo-depth distillation (:mod:`.pseudo_depth`) on reflective and unreliable
  pixels.

Options live in ``TrainConfig.extra`` (``--set extra.mask=gt`` ...):

=================  =========  ===========================================================
key                default    meaning
=================  =========  ===========================================================
mask               predicted  which pixels leave the photometric loss: predicted|gt|none
mask_after         0.3        start masking after this fraction of the steps (the residual
                              must learn first; ``gt`` masks from step 0)
pseudo_teacher     none       none | teacher_sim | student_reflection_ssl | checkpoint path
kd_weight          0.5        pseudo-depth distillation weight
kd_quantile        0.9        pixels above this photometric-error quantile are "unreliable"
smooth_weight      0.001      edge-aware smoothness
recon_weight       1.0        decomposition reconstruction
albedo_weight      0.5        cross-frame albedo consistency
albedo_every       2          compute it every N steps (it costs one extra forward pass)
residual_weight    0.05       L1 sparsity of the residual
shading_weight     0.05       shading smoothness
decomp_data        none       a simulator dataset with albedo/shading/specular GT (another
                              preset, e.g. ``data/teacher``): synthetic supervision of the
                              decomposition head, see :mod:`.decomposition_prior`
decomp_weight      2.0        weight of that prior
decomp_views       6          views of one prior frame per step
mask_quantile      0.9        chi-square quantile of the reflection test (saved with the
                              model as its ``quantile``; 0.9 beat 0.95 / 0.99 on training
                              frames, mask IoU 0.27 vs 0.25 / 0.20)
intrinsic          {}         IntrinsicConfig overrides (default ``residual_gain`` 10)
=================  =========  ===========================================================

The GT reflection mask (``mask=gt``) is an oracle for ablations only; the default uses
nothing but images, poses and calibration.
"""
from __future__ import annotations

import logging

import torch

from ..core.errors import TrainingError
from ..models.intrinsic import ReflectionSSLConfig, ReflectionSSLNet
from ..models.reflection import reflection_mask_from_residual
from .config import TrainConfig
from .dataset import SurroundTrainingSet
from .decomposition_prior import DecompositionPrior
from .photometric import (masked_mean, photometric_loss, reprojection_terms, smoothness_loss,
                          warp_to_target)
from .pseudo_depth import distillation_mask, make_pseudo_teacher, pseudo_depth_loss
from .recipes import Recipe, register_recipe, unwrap
from .temporal import TemporalIndex, batch_neighbour_views

log = logging.getLogger(__name__)

DEFAULTS = {
    "mask": "predicted", "mask_after": 0.3, "pseudo_teacher": "none", "kd_weight": 0.5,
    "kd_quantile": 0.9, "smooth_weight": 1e-3, "recon_weight": 1.0, "albedo_weight": 0.5,
    "residual_weight": 0.05, "shading_weight": 0.05, "albedo_every": 2,
    "decomp_data": "none", "decomp_weight": 2.0, "decomp_views": 6, "mask_quantile": 0.9,
}
INTRINSIC_DEFAULTS = {"residual_gain": 10.0}  # new models; older checkpoints keep gain 1


@register_recipe("reflection-ssl")
class ReflectionSSLRecipe(Recipe):
    """Self-supervised depth + intrinsic decomposition + reflection masking (+ pseudo-KD)."""

    arch = "reflection_ssl"
    needs = "none"

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        unknown = set(cfg.extra) - set(DEFAULTS) - {"find_unused_parameters", "intrinsic"}
        if unknown:
            raise TrainingError(f"reflection-ssl: unknown extra option(s) {sorted(unknown)}; "
                                f"known: {sorted(DEFAULTS)}")
        self.opt = {**DEFAULTS, **{k: v for k, v in cfg.extra.items() if k in DEFAULTS}}
        if self.opt["mask"] not in ("predicted", "gt", "none"):
            raise TrainingError(f"reflection-ssl: extra.mask must be predicted|gt|none, "
                                f"got {self.opt['mask']!r}")
        student = {"min_depth": cfg.min_depth, "max_depth": cfg.max_depth,
                   "input_size": list(cfg.image_size)}
        student.update(cfg.student)
        try:
            net_cfg = ReflectionSSLConfig(
                student=student, quantile=float(self.opt["mask_quantile"]),
                intrinsic=INTRINSIC_DEFAULTS | dict(cfg.extra.get("intrinsic", {})))
            self.model = ReflectionSSLNet(net_cfg).to(device)
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"reflection-ssl: bad model config: {exc}") from exc
        self.temporal = TemporalIndex(SurroundTrainingSet.from_config(cfg), "reflection-ssl")
        if self.opt["mask"] == "gt" and not float(self.temporal.sample(0)["has_reflection"]):
            raise TrainingError(f"{cfg.dataset}: extra.mask=gt needs reflection GT "
                                f"(a simulator dataset)")
        self.teacher = make_pseudo_teacher(str(self.opt["pseudo_teacher"]), device)
        prior = str(self.opt["decomp_data"] or "none")
        self.prior = None
        if prior.lower() != "none" and float(self.opt["decomp_weight"]) > 0:
            self.prior = DecompositionPrior(prior, cfg.image_size, views=int(self.opt["decomp_views"]),
                                            seed=cfg.seed)
        elif self.opt["mask"] == "predicted":
            log.warning("reflection-ssl without extra.decomp_data: the decomposition has no "
                        "synthetic prior and its residual stays nearly flat, so the predicted "
                        "reflection mask will be almost empty (see the README)")

    def model_config(self) -> dict:
        return unwrap(self.model).config_dict

    # ------------------------------------------------------------------ helpers
    def _active_mask(self, out: dict, batch: dict, shape) -> torch.Tensor:
        """(B*V, 1, H, W) bool reflective pixels to exclude (all False before mask_after)."""
        mode = self.opt["mask"]
        none = torch.zeros(shape, dtype=torch.bool, device=self.device)
        if mode == "none":
            return none
        if mode == "gt":
            return batch["reflection"].flatten(0, 1).to(self.device)
        if self._step < float(self.opt["mask_after"]) * self.cfg.steps:
            return none
        res = out["residual"].detach().flatten(0, 1)
        net_cfg = unwrap(self.model).cfg
        mask, _ = reflection_mask_from_residual(res, quantile=net_cfg.quantile,
                                                min_residual=net_cfg.min_residual)
        return mask

    # --------------------------------------------------------------------- step
    @property
    def _step(self) -> int:
        """Optimiser steps done so far (a buffer of the net: survives resume)."""
        return int(unwrap(self.model).steps_seen)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        o = self.opt
        idx = [int(i) for i in batch["index"]]
        images = batch["images"]
        clean = batch.get("clean_images", images)
        b, v = images.shape[:2]
        out = self.model(images)
        depth = out["depth"].flatten(0, 1)
        tgt = clean.flatten(0, 1)
        K = batch["K"].flatten(0, 1).float()
        sources, src_T, pairs = batch_neighbour_views(self.temporal, batch, self.device)
        terms = reprojection_terms(tgt, sources, depth, src_T, K, automask=True)
        reflective = self._active_mask(out, batch, depth.shape)
        photo, weight = photometric_loss(terms, exclude=reflective)
        smooth = smoothness_loss(depth, tgt)
        losses = {"photo": photo, "smooth": smooth}
        total = photo + float(o["smooth_weight"]) * smooth

        # intrinsic decomposition
        albedo = out["albedo"].flatten(0, 1)
        shading = out["shading"].flatten(0, 1)
        residual = out["residual"].flatten(0, 1)
        recon = (albedo * shading + residual - tgt).abs().mean()
        every = max(1, int(o["albedo_every"]))
        if self._step % every == 0:
            with torch.no_grad():
                which = (self._step // every) % 2  # the neighbour before / after, in turn
                src_imgs = torch.stack([pair[which]["images"] for pair in pairs]).to(self.device)
                src_albedo = unwrap(self.model)(src_imgs)["albedo"].flatten(0, 1)
                alb_warp, alb_valid = warp_to_target(src_albedo, depth.detach(), src_T[which], K)
            alb = masked_mean((albedo - alb_warp).abs().mean(1, keepdim=True),
                              alb_valid & terms["valid"])
        else:
            alb = albedo.sum() * 0.0
        sparsity = residual.mean()
        sh_smooth = (shading[..., 1:, :] - shading[..., :-1, :]).abs().mean() \
            + (shading[..., :, 1:] - shading[..., :, :-1]).abs().mean()
        losses.update({"recon": recon, "albedo": alb, "residual": sparsity, "shading": sh_smooth})
        total = total + float(o["recon_weight"]) * recon + float(o["albedo_weight"]) * alb \
            + float(o["residual_weight"]) * sparsity + float(o["shading_weight"]) * sh_smooth

        if self.prior is not None:
            # synthetic decomposition supervision on other scenes (same params, one backward)
            prior = self.prior.loss(unwrap(self.model), self._step, self.device)
            losses.update(prior)
            total = total + float(o["decomp_weight"]) * prior["prior"]

        if self.teacher is not None and float(o["kd_weight"]) > 0:
            kd_mask = distillation_mask(reflective, terms, float(o["kd_quantile"]))
            reliable = (weight & ~kd_mask).reshape(b, v, 1, *depth.shape[-2:])
            pseudo = self.teacher.pseudo_depth(clean, out["depth"], reliable, keys=idx,
                                               min_depth=self.cfg.min_depth,
                                               max_depth=self.cfg.max_depth)
            kd = pseudo_depth_loss(depth, pseudo.flatten(0, 1), kd_mask)
            losses["kd"] = kd
            total = total + float(o["kd_weight"]) * kd
        losses["masked_frac"] = reflective.float().mean().detach()
        losses["total"] = total
        with torch.no_grad():
            unwrap(self.model).steps_seen += 1
        return losses
