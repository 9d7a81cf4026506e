"""Losses of P1 (see docs/METHOD.md): GT SILog, cross-interaction KD, view-relational KD,
and the teacher's scale-and-shift-invariant + gradient-matching loss.

Shapes: depth-like maps are ``(B, V, 1, H, W)`` (or any ``(..., H, W)`` with a same-shape
mask); ``bin_centers`` ``(B, V, N)``; ``bin_probs`` ``(B, V, N, h, w)``; features
``(B, V, C, h, w)``. GT 0 = no value.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..models.alignment import align_to_metric
from ..models.bin_targets import (CKD_MODES, CKD_NORMS, linear_assign,  # noqa: F401
                                  ordinal_positions, ordinal_teacher_probs, soft_assign,
                                  two_hot)
from ..core.types import MAX_DEPTH_M

EPS = 1e-6


# ----------------------------------------------------------------------------- GT loss
def silog_loss(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None,
               variance_focus: float = 0.85, scale: float = 10.0) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al.; AdaBins/P1 form) on valid pixels.

    ``scale * sqrt(mean(g^2) - variance_focus * mean(g)^2)`` with ``g = log pred - log gt``,
    averaged over the whole batch's valid pixels. ``mask`` defaults to ``gt > 0``.
    Returns 0 (with a graph) when no pixel is valid.
    """
    if mask is None:
        mask = gt > 0
    mask = mask & (gt > 0)
    if not bool(mask.any()):
        return pred.sum() * 0.0
    g = torch.log(pred[mask].clamp_min(EPS)) - torch.log(gt[mask])
    d = (g ** 2).mean() - variance_focus * g.mean() ** 2
    return scale * torch.sqrt(d.clamp_min(1e-8))


def l1_loss_on_valid(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean |pred - gt| over pixels with gt > 0 (0 with a graph when none)."""
    mask = gt > 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return (pred[mask] - gt[mask]).abs().mean()


# ------------------------------------------------------------------ teacher -> metric
def align_disparity_to_depth(relative: torch.Tensor, gt: torch.Tensor,
                             min_depth: float = 1e-3, max_depth: float = MAX_DEPTH_M,
                             reference: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image least-squares scale+shift of a relative *disparity* to GT, in inverse depth.

    relative, gt (and the optional dense ``reference`` metric depth used for images without
    GT): ``(..., H, W)``, leading dims = images. Uses
    :func:`fsmde_gui.models.alignment.align_to_metric` (closed-form fit on GT pixels,
    median-ratio fallbacks). Returns ``(depth, scale_shift)``: metric depth clipped to
    ``[min_depth, max_depth]`` and ``(..., 2)``. No gradient flows (the teacher is frozen).
    """
    with torch.no_grad():
        H, W = relative.shape[-2:]
        lead = relative.shape[:-2]
        ref = reference.detach().reshape(-1, H, W) if reference is not None else None
        al = align_to_metric(relative.detach().reshape(-1, H, W), gt.detach().reshape(-1, H, W),
                             kind="disparity", reference=ref, min_depth=min_depth,
                             max_depth=max_depth, min_points=10)
        depth = al.depth.to(relative.dtype).reshape(relative.shape)
        st = torch.stack([al.scale, al.shift], -1).to(relative.dtype).reshape(*lead, 2)
        return depth, st


def ckd_losses(student_probs: torch.Tensor, student_centers: torch.Tensor,
               teacher_relative: torch.Tensor, gt: torch.Tensor, norm: str = "quantile",
               cross: str = "silog") -> dict[str, torch.Tensor]:
    """Cross-interaction KD as P1 defines it (docs/METHOD.md).

    * ``ckd_kl``: KL(q || p) averaged over pixels, q = the teacher's scale-invariant bin
      probabilities (:func:`ordinal_teacher_probs` of its relative output at the resolution
      of ``student_probs``: bin k of the teacher's ordinal grid stands for bin k of the
      student). No GT and no alignment in q. Gradient to the student's probabilities only.
    * ``ckd_cross``: the teacher's shape read through the student's metric centres,
      ``sum_i q_i c_i`` (q at GT resolution), must match the GT on GT pixels (SILog or L1).
      It depends on the centres, and is what teaches them (gradient to the centres only).

    student_probs ``(B,V,N,h,w)``, student_centers ``(B,V,N)``, teacher_relative (disparity)
    / gt ``(B,V,1,H,W)``.
    """
    B, V, N, h, w = student_probs.shape
    H, W = teacher_relative.shape[-2:]
    q = ordinal_teacher_probs(teacher_relative, N, (h, w), norm)
    log_p = torch.log(student_probs.clamp_min(EPS))
    kl = (q * (torch.log(q.clamp_min(EPS)) - log_p)).sum(2).mean()
    q_full = q if (h, w) == (H, W) else ordinal_teacher_probs(teacher_relative, N, (H, W), norm)
    expectation = (q_full * student_centers[..., None, None]).sum(2, keepdim=True)
    cross_loss = l1_loss_on_valid(expectation, gt) if cross == "l1" else silog_loss(expectation, gt)
    return {"ckd_kl": kl, "ckd_cross": cross_loss}


def aligned_ckd_losses(student_probs: torch.Tensor, student_centers: torch.Tensor,
                       teacher_metric: torch.Tensor, gt: torch.Tensor, tau: float = 1.0,
                       cross: str = "silog", assign: str = "softmax",
                       depth_range: tuple[float, float] | None = None,
                       skip_gt_pixels: bool = False) -> dict[str, torch.Tensor]:
    """The first release's CKD (``ckd_mode="aligned"``, kept as an ablation row): q assigns the
    LiDAR-aligned *metric* teacher depth to the student's own centres.

    Not P1's CKD: q carries the alignment's scale and errors, and with ``assign="linear"``
    ``sum_i q_i c_i`` equals the teacher depth for any centres, so ``ckd_cross`` cannot teach
    them (measured: 19 % worse than supervised). ``assign``: ``"softmax"`` (softmax of
    -|d - c_i| / tau) or ``"linear"`` (:func:`linear_assign`). ``depth_range`` (min, max): the
    KL skips pixels whose aligned depth sits on a clip bound. ``skip_gt_pixels``: the KL skips
    (low-resolution) pixels that hold GT.
    """
    B, V, N, h, w = student_probs.shape
    H, W = teacher_metric.shape[-2:]
    t_metric = teacher_metric.detach()
    if (h, w) != (H, W):
        t_low = F.interpolate(t_metric.reshape(B * V, 1, H, W), size=(h, w), mode="area")
        t_low = t_low.reshape(B, V, 1, h, w)
    else:
        t_low = t_metric

    def assign_fn(d: torch.Tensor) -> torch.Tensor:
        if assign == "linear":
            return linear_assign(d, student_centers.detach())
        return soft_assign(d, student_centers.detach(), tau)

    q = assign_fn(t_low)
    log_p = torch.log(student_probs.clamp_min(EPS))
    kl_map = (q * (torch.log(q.clamp_min(EPS)) - log_p)).sum(2, keepdim=True)
    keep = torch.ones_like(kl_map, dtype=torch.bool)
    if depth_range is not None:
        keep &= (t_low > depth_range[0] * 1.001) & (t_low < depth_range[1] * 0.999)
    if skip_gt_pixels:
        has_gt = (gt > 0).float().reshape(B * V, 1, H, W)
        if (h, w) != (H, W):
            has_gt = F.adaptive_max_pool2d(has_gt, (h, w))
        keep &= has_gt.reshape(B, V, 1, h, w) < 0.5
    kl = (kl_map * keep).sum() / keep.sum().clamp_min(1)

    q_full = assign_fn(t_metric).detach()
    expectation = (q_full * student_centers[..., None, None]).sum(2, keepdim=True)
    if cross == "l1":
        cross_loss = l1_loss_on_valid(expectation, gt)
    else:
        cross_loss = silog_loss(expectation, gt)
    return {"ckd_kl": kl, "ckd_cross": cross_loss}


# ------------------------------------------------------------------- bin coverage
def bin_chamfer_loss(centers: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """AdaBins' bin-centre density loss, in log depth: a two-way chamfer distance between each
    image's centres and its GT depths (every GT depth near a centre, every centre near a GT
    depth), mean over images with GT. centers ``(B, V, N)``, gt ``(B, V, 1, H, W)`` (0 = none).
    """
    c = torch.log(centers.reshape(-1, centers.shape[-1]).clamp_min(EPS))
    g_all = gt.reshape(c.shape[0], -1)
    total, used = centers.sum() * 0.0, 0
    for k in range(c.shape[0]):
        g = g_all[k][g_all[k] > 0]
        if g.numel() == 0:
            continue
        d2 = (torch.log(g)[:, None] - c[k][None, :]) ** 2  # (P, N)
        total = total + d2.min(dim=1).values.mean() + d2.min(dim=0).values.mean()
        used += 1
    return total / max(used, 1)


# ---------------------------------------------------------------------------- VRKD
RING_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 5), (5, 4), (4, 3), (3, 0))
"""Adjacent pairs around the ring FL-F-FR-BR-B-BL (indices in CAMERA_NAMES order)."""


def facing_sides(cam_to_ego: torch.Tensor, i: int, j: int) -> tuple[str, str]:
    """Which image border of camera i faces camera j and vice versa ("left"/"right").

    cam_to_ego ``(V, 4, 4)``: j's optical axis expressed in i's camera frame has x > 0 when j
    looks to i's right (OpenCV convention: x right).
    """
    Ri, Rj = cam_to_ego[i, :3, :3], cam_to_ego[j, :3, :3]
    zj_in_i = Ri.T @ Rj[:, 2]
    zi_in_j = Rj.T @ Ri[:, 2]
    return ("right" if float(zj_in_i[0]) > 0 else "left",
            "right" if float(zi_in_j[0]) > 0 else "left")


def border_tokens(feat: torch.Tensor, side: str, frac: float = 0.25,
                  tokens_hw: tuple[int, int] = (4, 2)) -> torch.Tensor:
    """Pool the facing border strip of ``feat (B, C, h, w)`` into tokens ``(B, T, C)``."""
    w = feat.shape[-1]
    k = max(1, int(round(w * frac)))
    strip = feat[..., :k] if side == "left" else feat[..., w - k:]
    pooled = F.adaptive_avg_pool2d(strip, tokens_hw)
    if side == "left":  # read strips outward-in so the two views' token orders mirror
        pooled = pooled.flip(-1)
    return pooled.flatten(2).transpose(1, 2)


def relation_matrix(tok_a: torch.Tensor, tok_b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every token of a and of b: ``(B, Ta, Tb)``."""
    return F.normalize(tok_a, dim=-1) @ F.normalize(tok_b, dim=-1).transpose(1, 2)


def relation_kl(sim_student: torch.Tensor, sim_teacher: torch.Tensor,
                tau: float = 0.1) -> torch.Tensor:
    """KL(softmax(teacher/tau) || softmax(student/tau)) over rows, mean over rows/batch."""
    log_p = F.log_softmax(sim_student / tau, dim=-1)
    q = F.softmax(sim_teacher.detach() / tau, dim=-1)
    return (q * (torch.log(q.clamp_min(EPS)) - log_p)).sum(-1).mean()


def vrkd_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor,
              pairs: Sequence[tuple[int, int]], cam_to_ego: torch.Tensor,
              tau: float = 0.1, frac: float = 0.25,
              tokens_hw: tuple[int, int] = (4, 2)) -> torch.Tensor:
    """View-relational KD (P1): match student vs teacher cross-view relations.

    For each adjacent pair (i, j) the facing border strips of both views are pooled to
    tokens and the cosine-similarity matrix (T x T) is formed for the student and the
    teacher; KL over row-softmaxed similarities (both directions i->j and j->i).
    Features ``(B, V, C, h, w)``; the channel counts of student and teacher may differ.
    cam_to_ego ``(V, 4, 4)`` (the rig; first of the batch).
    """
    total = student_feat.sum() * 0.0
    if not pairs:
        return total
    for i, j in pairs:
        si, sj = facing_sides(cam_to_ego, i, j)
        s_a = border_tokens(student_feat[:, i], si, frac, tokens_hw)
        s_b = border_tokens(student_feat[:, j], sj, frac, tokens_hw)
        t_a = border_tokens(teacher_feat[:, i].detach(), si, frac, tokens_hw)
        t_b = border_tokens(teacher_feat[:, j].detach(), sj, frac, tokens_hw)
        s_rel, t_rel = relation_matrix(s_a, s_b), relation_matrix(t_a, t_b)
        total = total + 0.5 * (relation_kl(s_rel, t_rel, tau)
                               + relation_kl(s_rel.transpose(1, 2), t_rel.transpose(1, 2), tau))
    return total / len(pairs)


# ------------------------------------------------------------------------- teacher
def normalize_ssi(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MiDaS-style per-image normalisation: (x - median) / mean|x - median| on valid pixels.

    x, mask ``(N, H, W)``.
    """
    out = torch.zeros_like(x)
    for k in range(x.shape[0]):
        m = mask[k]
        if int(m.sum()) < 2:
            continue
        v = x[k][m]
        med = v.median()
        s = (v - med).abs().mean().clamp_min(EPS)
        out[k] = (x[k] - med) / s
    return out


def ssi_loss(pred_disp: torch.Tensor, gt_depth: torch.Tensor) -> torch.Tensor:
    """Scale-and-shift-invariant loss (MiDaS / Depth Anything) in disparity space.

    pred_disp, gt_depth ``(..., H, W)``; GT disparity = 1 / depth on pixels with depth > 0;
    both normalised per image (median / mean absolute deviation), then mean |difference|.
    """
    H, W = pred_disp.shape[-2:]
    p = pred_disp.reshape(-1, H, W)
    g = gt_depth.reshape(-1, H, W)
    mask = g > 0
    if not bool(mask.any()):
        return pred_disp.sum() * 0.0
    gd = torch.where(mask, 1.0 / g.clamp_min(EPS), torch.zeros_like(g))
    pn, gn = normalize_ssi(p, mask), normalize_ssi(gd, mask)
    return (pn - gn).abs()[mask].mean()


def gradient_matching_loss(pred_disp: torch.Tensor, gt_depth: torch.Tensor,
                           scales: int = 3) -> torch.Tensor:
    """Multi-scale gradient matching (MiDaS) on the normalised disparity residual."""
    H, W = pred_disp.shape[-2:]
    p = pred_disp.reshape(-1, 1, H, W)
    g = gt_depth.reshape(-1, 1, H, W)
    mask = g > 0
    if not bool(mask.any()):
        return pred_disp.sum() * 0.0
    gd = torch.where(mask, 1.0 / g.clamp_min(EPS), torch.zeros_like(g))
    r = normalize_ssi(p[:, 0], mask[:, 0]) - normalize_ssi(gd[:, 0], mask[:, 0])
    r, m = r[:, None], mask.float()
    total = pred_disp.sum() * 0.0
    for s in range(scales):
        if s:
            r = r[..., ::2, ::2]
            m = m[..., ::2, ::2]
        gx = (r[..., :, 1:] - r[..., :, :-1]).abs() * m[..., :, 1:] * m[..., :, :-1]
        gy = (r[..., 1:, :] - r[..., :-1, :]).abs() * m[..., 1:, :] * m[..., :-1, :]
        total = total + (gx.sum() + gy.sum()) / m.sum().clamp_min(1.0)
    return total / scales
