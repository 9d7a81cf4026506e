"""Synthetic decomposition prior for the reflection-aware recipe (docs/METHOD.md, P3).

Learned intrinsic decomposition networks are trained on *synthetic* scenes with rendered
albedo / shading / specular layers, because no real image comes with them. Trained on
photometric terms alone, our decomposition head never separates a specular layer: the
reconstruction ``|A*S + R - I|`` is met with ``R = 0`` (``A*S`` can absorb anything), and the
view-dependent change between frames 0.1 s apart is too small to force it (cross-frame
residual against GT depth: mask IoU 0.11; see the README's reflection section).

:class:`DecompositionPrior` supplies that missing synthetic supervision the way real IID
networks get it: frames of a *different* simulator preset (default ``data/teacher``, whose
scene seeds are disjoint from the training and held-out scenes) with their GT layers. Each
reflection-ssl step adds an L1 loss of the head's albedo, shading and residual against
those layers on ``views`` random views of one such frame. Depth never sees a label: the
prior frames only pass through the decomposition head's loss (their depth output is unused).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import DatasetError
from ..data.detect import open_dataset


SPECULAR_LEVEL = 0.03  # mean |specular| that the reflection mask treats as visible
SPECULAR_WEIGHT = 10.0


class DecompositionPrior:
    """Frames with GT albedo / shading / specular, served as small training batches.

    Args:
        root: a simulator dataset (``fsmde generate``) - any preset with intrinsic GT.
        image_size: (W, H) the network's input size.
        max_frames: use at most this many frames (0 = all).
        views: views per step (of the frame's 6).
        seed: the sampler's seed (deterministic given the step count).
    """

    def __init__(self, root: str | Path, image_size: tuple[int, int], max_frames: int = 0,
                 views: int = 3, seed: int = 0):
        root = Path(root)
        if not root.exists():
            raise DatasetError(root, "decomposition prior data not found (generate it with "
                               "`fsmde generate --preset teacher --out <folder>` or set "
                               "extra.decomp_data=none)")
        ds = open_dataset(root, image_size=tuple(image_size))
        keys = list(ds.iter_frames())
        if max_frames:
            keys = keys[:max_frames]
        if not keys:
            raise DatasetError(root, "decomposition prior dataset has no frames")
        self.images, self.albedo, self.shading, self.specular = [], [], [], []
        for s, f in keys:
            frame = ds.frame(s, f, load_gt=True)
            if any(v.albedo is None or v.shading is None or v.specular is None
                   for v in frame.views):
                raise DatasetError(root, "decomposition prior needs albedo/shading/specular GT "
                                   "(a simulator dataset)")
            self.images.append(torch.from_numpy(np.ascontiguousarray(frame.images)))  # uint8
            self.albedo.append(_chw(np.stack([v.albedo for v in frame.views])))
            self.shading.append(_chw(np.stack([v.shading for v in frame.views])[..., None]))
            self.specular.append(_chw(np.stack([v.specular for v in frame.views])))
        self.views = max(1, min(6, int(views)))
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, step: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Images (1, V, 3, H, W) in [0, 1] and GT layers (V, C, H, W) for ``step``."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(step))
        i = int(torch.randint(len(self), (1,), generator=g))
        cams = torch.randperm(6, generator=g)[: self.views]
        img = self.images[i][cams].permute(0, 3, 1, 2).float() / 255.0
        return {"images": img[None].to(device), "albedo": self.albedo[i][cams].to(device),
                "shading": self.shading[i][cams].to(device),
                "specular": self.specular[i][cams].to(device)}

    def loss(self, model, step: int, device: torch.device | str = "cpu"
             ) -> dict[str, torch.Tensor]:
        """L1 of the model's albedo / shading / residual against the GT layers.

        The residual's L1 is re-weighted: GT-specular pixels (mean > ``SPECULAR_LEVEL``) count
        ``SPECULAR_WEIGHT`` times. A plain L1 is minimised by the conditional *median*, and
        with most pixels diffuse that median is 0 wherever the head is unsure: the residual
        collapsed to zero everywhere in a first run (mean 0.0000 after 100 steps).
        """
        b = self.batch(step, device)
        out = model(b["images"])
        spec = b["specular"]
        w = 1.0 + (SPECULAR_WEIGHT - 1.0) * (spec.mean(1, keepdim=True) > SPECULAR_LEVEL).float()
        terms = {
            "prior_albedo": (out["albedo"][0] - b["albedo"]).abs().mean(),
            "prior_shading": (out["shading"][0] - b["shading"]).abs().mean(),
            "prior_residual": ((out["residual"][0] - spec).abs() * w).sum() / (w.sum() * 3),
        }
        terms["prior"] = terms["prior_albedo"] + terms["prior_shading"] + 2.0 * terms["prior_residual"]
        return terms


def _chw(a: np.ndarray) -> torch.Tensor:
    """(V, H, W, C) float -> (V, C, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2).contiguous()
