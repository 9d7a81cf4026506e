"""Training samples: SurroundFrames (via ``open_dataset`` at the model input size) -> tensors,
decoded per item so that any dataset size streams through a ``DataLoader``.

A sample is a dict of tensors: ``images (V,3,H,W)`` float [0,1], ``depth_sparse (V,1,H,W)``,
``depth_dense (V,1,H,W)`` (zeros + ``has_dense = 0`` when the source has none), ``K (V,3,3)``,
``cam_to_ego (V,4,4)``, ``ego_to_world (V,4,4)`` float64 (each camera's ego pose at its
capture time; the frame's pose when the data has one per frame), ``semantic (V,H,W)`` int16
class ids (-1 + ``has_semantic = 0`` when the source has none), ``reflection (V,1,H,W)`` bool
GT reflective pixels (all False + ``has_reflection = 0`` when the source has none).
Augmentation is colour jitter only: flips or crops would break the rig geometry that VRKD and
the consistency metrics rely on.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from ..core.atomic_io import atomic_write
from ..core.errors import DatasetError
from ..data.detect import open_dataset


CACHE_FORMAT = 2  # bump when frame_to_tensors gains or changes a key: old caches are not read


def frame_to_tensors(frame) -> dict[str, torch.Tensor]:
    """One SurroundFrame -> the tensor dict described in the module docstring."""
    images = torch.from_numpy(np.ascontiguousarray(frame.images)).permute(0, 3, 1, 2)
    # contiguous (V, 3, H, W): a worker's collate makes every batch contiguous, and float
    # reductions follow the memory layout, so inline and worker runs must share it
    images = (images.float() / 255.0).contiguous()
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
    reflection = [v.reflection for v in frame.views]
    has_reflection = all(m is not None for m in reflection)
    poses = [v.ego_to_world if v.ego_to_world is not None else frame.ego_to_world
             for v in frame.views]
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
        "ego_to_world": torch.from_numpy(np.stack(poses).astype(np.float64)),
        "reflection": (torch.from_numpy(np.stack(reflection).astype(bool))[:, None]
                       if has_reflection else torch.zeros(V, 1, H, W, dtype=torch.bool)),
        "has_reflection": torch.tensor(float(has_reflection)),
    }


class SurroundTrainingSet(Dataset):
    """The frames of a dataset folder at ``image_size`` (W, H), decoded per item (streaming).

    Nothing is kept in memory between items, so memory stays flat as the dataset grows; a
    ``torch.utils.data.DataLoader`` with workers decodes the next batches while the current
    one trains. ``cache_dir`` (optional) keeps each decoded sample (resized images, projected
    LiDAR depth) as one ``.pt`` file under a folder keyed by the dataset and the input size,
    so later epochs and later runs skip JPEG decoding and LiDAR projection. Items are
    deterministic (plus ``index``); the trainer applies :func:`jitter_colours` with a
    generator seeded from (seed, step, rank) so that resumed runs repeat exactly.
    """

    def __init__(self, root: str | Path, image_size: tuple[int, int], max_frames: int = 0,
                 version: str | None = None, scenes: list[str] | None = None,
                 cache_dir: str | Path | None = None):
        self.root = Path(root)
        if not self.root.exists():
            raise DatasetError(self.root, "training dataset folder does not exist "
                               "(generate one with `fsmde generate`)")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.dataset = open_dataset(self.root, image_size=self.image_size,
                                    version=version or None, scenes=scenes or None)
        keys = list(self.dataset.iter_frames())
        if max_frames:
            keys = keys[:max_frames]
        if not keys:
            raise DatasetError(self.root, "dataset has no frames")
        self.keys = keys
        self.cache_dir = None
        if cache_dir:
            ident = json.dumps([CACHE_FORMAT, str(self.root.resolve()), list(self.image_size),
                                version or "", sorted(scenes or []),
                                [list(map(str, k)) for k in keys]])
            digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
            self.cache_dir = Path(cache_dir) / digest

    @classmethod
    def from_config(cls, cfg) -> "SurroundTrainingSet":
        """The frames a ``TrainConfig`` trains on (its dataset, size, frame count, release,
        scenes and cache): the trainer's set, and the one its recipes read neighbours from."""
        return cls(cfg.dataset, cfg.image_size, cfg.max_frames, cfg.dataset_version,
                   cfg.dataset_scenes, cache_dir=cfg.cache_dir or None)

    def __len__(self) -> int:
        return len(self.keys)

    def load(self, index: int) -> dict[str, torch.Tensor]:
        """The sample of frame ``index`` without ``index`` (decoded, or read from the cache)."""
        if self.cache_dir is not None:
            path = self.cache_dir / f"{index:07d}.pt"
            if path.exists():
                try:
                    return torch.load(path, map_location="cpu", weights_only=True)
                except Exception as exc:  # a damaged cache entry is a file error, not a crash
                    raise DatasetError(path, f"cannot read the training cache entry ({exc}); "
                                       "delete the cache folder to rebuild it") from exc
        scene, i = self.keys[index]
        sample = frame_to_tensors(self.dataset.frame(scene, i, load_gt=True))
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda fh: torch.save(sample, fh))
        return sample

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = dict(self.load(index))
        sample["index"] = torch.tensor(index)
        return sample


class StepBatchSampler(Sampler):
    """Batches of dataset indices for steps ``start .. steps-1``, a pure function of the step.

    Step ``s`` takes batch ``k`` of epoch ``e`` (``e, k = divmod(s, batches per epoch)``) of
    the (distributed, shuffled) ``sampler``, wrapping around at the end of an epoch, so a run
    resumed at step ``s`` reads exactly the batches an uninterrupted run reads.
    """

    def __init__(self, sampler: DistributedSampler, batch_size: int, start: int, steps: int):
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.start, self.steps = int(start), int(steps)

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        per_rank = len(self.sampler)
        B = self.batch_size
        per_epoch = max(1, math.ceil(per_rank / B))
        order, order_epoch = None, None
        for step in range(self.start, self.steps):
            epoch, k = divmod(step, per_epoch)
            if epoch != order_epoch:
                self.sampler.set_epoch(epoch)
                order, order_epoch = list(self.sampler), epoch
            yield [order[(k * B + j) % per_rank] for j in range(B)]


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
