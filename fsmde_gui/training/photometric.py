"""Self-supervised photometric objective (docs/METHOD.md, P3) with reflection exclusion.

Frame t (target) is re-synthesised from its temporal neighbours t-1 / t+1 (sources) by
back-projecting every target pixel with the predicted depth, moving it with the known ego
motion and sampling the source image there (kornia: ``depth_to_3d_v2``, ``transform_points``,
``project_points``; bilinear ``grid_sample`` as ``kornia.geometry.depth.warp_frame_depth``).

Pose (known, metric ego motion; no pose net). For one camera with camera->ego ``C`` and the
ego->world poses ``E_t`` (target) and ``E_s`` (source) of that camera's timestamps::

    src_T_tgt = C^-1 . E_s^-1 . E_t . C        (target camera coords -> source camera coords)

Because that translation is in metres, the depth that minimises the loss is metric: the
usual scale ambiguity of self-supervised monocular depth does not arise here.

Loss per pixel: ``0.85 * (1 - SSIM) / 2 + 0.15 * |I_t - I_s->t|`` (kornia ``ssim_loss``, 3x3
window), the per-pixel **minimum** over sources, **auto-masking** (a pixel is dropped when
the un-warped source already matches better than any warp: static scenes / ego-speed
objects), **reflective pixels excluded** (weight 0: no gradient reaches depth from them) and
edge-aware smoothness of mean-normalised inverse depth (kornia
``inverse_depth_smoothness_loss``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from kornia.geometry.camera.perspective import project_points
from kornia.geometry.conversions import normalize_pixel_coordinates
from kornia.geometry.depth import depth_to_3d_v2
from kornia.geometry.linalg import transform_points
from kornia.losses import inverse_depth_smoothness_loss, ssim_loss

SSIM_WEIGHT = 0.85


def relative_camera_pose(cam_to_ego: torch.Tensor, ego_to_world_tgt: torch.Tensor,
                         ego_to_world_src: torch.Tensor,
                         cam_to_ego_src: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``src_T_tgt = C_s^-1 E_s^-1 E_t C_t``: target-camera points -> source-camera points.

    All (..., 4, 4). ``cam_to_ego_src`` defaults to ``cam_to_ego`` (same camera, other time);
    give another camera's extrinsics for cross-view warps (then ``E_s`` may equal ``E_t``).
    """
    c_src = cam_to_ego if cam_to_ego_src is None else cam_to_ego_src
    return torch.linalg.inv(c_src) @ torch.linalg.inv(ego_to_world_src) @ ego_to_world_tgt @ cam_to_ego


def warp_to_target(image_src: torch.Tensor, depth_tgt: torch.Tensor, src_T_tgt: torch.Tensor,
                   K: torch.Tensor, K_src: Optional[torch.Tensor] = None,
                   min_depth: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample the source image at the reprojection of every target pixel.

    Args:
        image_src: (B, C, H, W) source tensor (image, albedo, ...).
        depth_tgt: (B, 1, H, W) target z-depth (metres).
        src_T_tgt: (B, 4, 4) target camera -> source camera.
        K: (B, 3, 3) target intrinsics; ``K_src`` source intrinsics (default ``K``).
    Returns:
        ``warped`` (B, C, H, W) and ``valid`` (B, 1, H, W) bool: the point is in front of
        the source camera and projects inside its image.
    """
    K_src = K if K_src is None else K_src
    h, w = depth_tgt.shape[-2:]
    pts = depth_to_3d_v2(depth_tgt[:, 0].clamp_min(min_depth), K)  # (B, H, W, 3)
    pts_src = transform_points(src_T_tgt[:, None], pts)
    z = pts_src[..., 2]
    in_front = z > min_depth
    # keep the projection finite behind the camera; those pixels are invalid anyway
    safe = torch.where(in_front[..., None], pts_src,
                       torch.cat([pts_src[..., :2], torch.ones_like(z)[..., None]], -1))
    uv = project_points(safe, K_src[:, None, None])  # (B, H, W, 2) pixels
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= w - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= h - 1)
    grid = normalize_pixel_coordinates(uv, h, w)
    warped = F.grid_sample(image_src, grid, mode="bilinear", padding_mode="border",
                           align_corners=True)
    return warped, (in_front & inside)[:, None]


def photometric_error(pred: torch.Tensor, target: torch.Tensor,
                      ssim_weight: float = SSIM_WEIGHT) -> torch.Tensor:
    """(B, 1, H, W) per-pixel ``a * (1 - SSIM) / 2 + (1 - a) * L1`` (channel mean)."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    ssim = ssim_loss(pred, target, window_size=3, reduction="none").mean(1, keepdim=True)
    return ssim_weight * ssim + (1.0 - ssim_weight) * l1


def reprojection_terms(target: torch.Tensor, sources: Sequence[torch.Tensor],
                       depth: torch.Tensor, src_T_tgt: Sequence[torch.Tensor],
                       K: torch.Tensor, automask: bool = True) -> dict:
    """Per-pixel photometric terms of one target against its sources (no reduction).

    Returns a dict of (B, 1, H, W) maps: ``min_error`` (min over sources of the warped
    error, invalid reprojections count as +inf unless all are invalid), ``identity_error``
    (min over sources, un-warped), ``valid`` (some source sees the pixel), ``automask``
    (warp beats identity; all True when ``automask`` is False), and ``warped`` (list).
    """
    errs, valids, warped_all, ident = [], [], [], []
    for src, T in zip(sources, src_T_tgt):
        warped, valid = warp_to_target(src, depth, T, K)
        errs.append(photometric_error(warped, target))
        valids.append(valid)
        warped_all.append(warped)
        ident.append(photometric_error(src, target))
    err = torch.cat(errs, 1)
    val = torch.cat(valids, 1)
    big = torch.full_like(err, 1e4)
    min_err = torch.where(val, err, big).min(1, keepdim=True).values
    valid_any = val.any(1, keepdim=True)
    min_err = torch.where(valid_any, min_err, err.min(1, keepdim=True).values)
    id_err = torch.cat(ident, 1).min(1, keepdim=True).values
    if automask:
        # tiny noise breaks ties on textureless areas (as in Monodepth2)
        am = min_err < id_err + 1e-5 * torch.randn_like(id_err)
    else:
        am = torch.ones_like(valid_any)
    return {"min_error": min_err, "identity_error": id_err, "valid": valid_any,
            "automask": am, "warped": warped_all}


def masked_mean(value: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean; 0 (with a graph) when the weight is empty."""
    weight = weight.to(value.dtype)
    return (value * weight).sum() / weight.sum().clamp_min(1.0)


def photometric_loss(terms: dict, exclude: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``min_error`` over valid, auto-masked pixels that are not ``exclude``-d.

    ``exclude`` (B, 1, H, W) bool: the reflective pixels (P3); they contribute exactly zero
    to the loss and to every gradient. Returns ``(loss, weight_map)``.
    """
    weight = terms["valid"] & terms["automask"]
    if exclude is not None:
        weight = weight & ~exclude.bool()
    return masked_mean(terms["min_error"], weight), weight


def smoothness_loss(depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of mean-normalised inverse depth (kornia)."""
    disp = 1.0 / depth.clamp_min(1e-3)
    disp = disp / disp.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return inverse_depth_smoothness_loss(disp, image)
