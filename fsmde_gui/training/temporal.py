"""Neighbours in time of training frames, for the photometric terms (reflection-ssl, and kd
with ``extra.photo_weight``): frame t is rebuilt from frames t-1 / t+1 of its scene with the
predicted depth and the known ego motion.

Samples stream through the trainer's :class:`~.dataset.SurroundTrainingSet` (and its on-disk
cache); only the frame keys are kept, so memory stays flat as the dataset grows."""
from __future__ import annotations

import torch

from ..core.errors import DatasetError
from .dataset import SurroundTrainingSet
from .photometric import relative_camera_pose


class TemporalIndex:
    """The neighbours in time of each training index (same order as the trainer's set) and
    their samples, decoded on demand. A sample carries each camera's ego pose
    (``ego_to_world``) and the GT reflection mask (``reflection`` / ``has_reflection``)."""

    def __init__(self, frames: SurroundTrainingSet, what: str = "the photometric loss"):
        self.frames = frames
        pos = {k: i for i, k in enumerate(frames.keys)}
        self.sources = [[pos[(s, f + d)] for d in (-1, 1) if (s, f + d) in pos]
                        for s, f in frames.keys]
        if not any(self.sources):
            raise DatasetError(frames.root, f"{what} needs consecutive frames (scenes with at "
                               "least 2 frames)")

    def __len__(self) -> int:
        return len(self.sources)

    def sample(self, i: int) -> dict[str, torch.Tensor]:
        return self.frames.load(i)


def neighbour_views(temporal: TemporalIndex, i: int, pose: torch.Tensor, c2e: torch.Tensor,
                    device: torch.device):
    """Frame ``i``'s two neighbours in time (the same one twice at a scene's ends; itself when
    alone): their images ``(1, V, 3, H, W)`` and poses ``src_T_tgt (1, V, 4, 4)``, from
    frame ``i``'s per-camera ego poses ``pose (V, 4, 4)`` and extrinsics ``c2e``, plus the
    two neighbour samples."""
    nb = temporal.sources[i] or [i]
    loaded = {j: temporal.sample(j) for j in set(nb)}  # a scene's end: one neighbour, read once
    pair = [loaded[nb[0]], loaded[nb[-1]]]
    imgs = [p["images"][None].to(device) for p in pair]
    poses = [relative_camera_pose(c2e, pose, p["ego_to_world"]).float()[None].to(device)
             for p in pair]
    return imgs, poses, pair


def batch_neighbour_views(temporal: TemporalIndex, batch: dict, device: torch.device):
    """:func:`neighbour_views` of every sample of ``batch``, flattened over (batch, view) as
    the photometric terms take them: two source image tensors ``(B*V, 3, H, W)``, two pose
    tensors ``src_T_tgt (B*V, 4, 4)``, and per sample its two neighbour samples."""
    c2e = batch["cam_to_ego"].double().cpu()
    pose = batch["ego_to_world"].double().cpu()
    views = [neighbour_views(temporal, int(i), pose[n], c2e[n], device)
             for n, i in enumerate(batch["index"])]
    sources = [torch.cat([v[0][k] for v in views]).flatten(0, 1) for k in range(2)]
    src_T = [torch.cat([v[1][k] for v in views]).flatten(0, 1) for k in range(2)]
    return sources, src_T, [v[2] for v in views]
