"""Training samples: SurroundFrames (via ``open_dataset`` at the model input size) -> tensors,
cached in memory (the datasets we train on are small).

A sample is a dict of tensors: ``images (V,3,H,W)`` float [0,1], ``depth_sparse (V,1,H,W)``,
``depth_dense (V,1,H,W)`` (zeros + ``has_dense = 0`` when the source has none), ``K (V,3,3)``,
``cam_to_ego (V,4,4)``, ``semantic (V,H,W)`` int16 class ids (-1 + ``has_semantic = 0``
when the source has none). Augmentation is colour jitter only: flips or crops would break the
rig geometry that VRKD and the consistency metrics rely on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.errors import DatasetError


def frame_to_tensors(frame) -> dict[str, torch.Tensor]:
    """One SurroundFrame -> the tensor dict described in the module docstring."""
    images = torch.from_numpy(np.ascontiguousarray(frame.images)).permute(0, 3, 1, 2)
    images = images.float() / 255.0
    V, _, H, W = images.shape

    def stack(attr):
        maps = [getattr(v, attr) for v in frame.views]
        if any(m is None for m in maps):
            return None
        return torch.from_numpy(np.stack(maps).astype(np.float32))[:, None]

    sparse = stack("depth_sparse")
    dense = stack("depth_dense")
    zeros = torch.zeros(V, 1, H, W)
    semantic = [v.semantic for v in frame.views]
    has_semantic = all(m is not None and m.shape[:2] == (H, W) for m in semantic)
    return {
        "semantic": (torch.from_numpy(np.stack(semantic).astype(np.int16)) if has_semantic
                     else torch.full((V, H, W), -1, dtype=torch.int16)),  # class id, -1 = none
        "has_semantic": torch.tensor(float(has_semantic)),
        "images": images,
        "depth_sparse": sparse if sparse is not None else zeros.clone(),
        "depth_dense": dense if dense is not None else zeros.clone(),
        "has_sparse": torch.tensor(float(sparse is not None)),
        "has_dense": torch.tensor(float(dense is not None)),
        "K": torch.from_numpy(frame.intrinsics.astype(np.float32)),
        "cam_to_ego": torch.from_numpy(frame.cam_to_ego.astype(np.float32)),
    }


class SurroundTrainingSet(Dataset):
    """All frames of a dataset folder, loaded once at ``image_size`` (W, H) and kept in memory.

    Items are deterministic (plus ``index``); the trainer applies :func:`jitter_colours`
    with a generator seeded from (seed, step, rank) so that resumed runs repeat exactly.
    """

    def __init__(self, root: str | Path, image_size: tuple[int, int], max_frames: int = 0,
                 version: str | None = None, scenes: list[str] | None = None):
        from ..data.detect import open_dataset

        self.root = Path(root)
        if not self.root.exists():
            raise DatasetError(self.root, "training dataset folder does not exist "
                               "(generate one with `fsmde generate`)")
        ds = open_dataset(self.root, image_size=tuple(image_size), version=version or None,
                          scenes=scenes or None)
        keys = list(ds.iter_frames())
        if max_frames:
            keys = keys[:max_frames]
        if not keys:
            raise DatasetError(self.root, "dataset has no frames")
        self.samples = [frame_to_tensors(ds.frame(s, i, load_gt=True)) for s, i in keys]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = dict(self.samples[index])
        sample["index"] = torch.tensor(index)
        return sample


def jitter_colours(images: torch.Tensor, amount: float, generator: torch.Generator
                   ) -> torch.Tensor:
    """Per-view random brightness, contrast and saturation in ``1 +- amount``."""
    V = images.shape[0]
    f = 1.0 + (torch.rand(V, 3, generator=generator) * 2 - 1) * amount
    out = images * f[:, 0, None, None, None]
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * f[:, 1, None, None, None] + mean
    gray = out.mean(dim=1, keepdim=True)
    out = (out - gray) * f[:, 2, None, None, None] + gray
    return out.clamp(0.0, 1.0)
