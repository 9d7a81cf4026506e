"""``fsmde train --recipe semantic``: the bundled semantic teacher on the simulator's semantic GT.

Per-pixel cross-entropy with class weights ``freq^-1/2`` (computed per batch, so the thin
classes pole and sign, a few percent of the pixels, still count). Options
(``--set extra.KEY=VALUE``): ``num_classes`` (default: from the dataset's ``classes.json``),
``feature_channels`` (64).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.errors import TrainingError
from ..data.simulator.classes import CLASS_NAMES
from ..models.semantic_sim import SemanticSimConfig, SemanticSimNet
from .recipes import Recipe, register_recipe

IGNORE = -1


def dataset_num_classes(root: str | Path) -> int | None:
    path = Path(root) / "classes.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        return len(doc["names"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path}: unreadable classes file ({exc})") from exc


def balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                           num_classes: int) -> torch.Tensor:
    """logits (N, K, H, W), labels (N, H, W) long with IGNORE; weights freq^-0.5 per batch."""
    valid = labels != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0
    counts = torch.bincount(labels[valid], minlength=num_classes).float()
    weights = torch.where(counts > 0, counts.clamp_min(1).rsqrt(), torch.zeros_like(counts))
    weights = weights / (weights[counts > 0].mean())
    return F.cross_entropy(logits, labels, weight=weights.to(logits.dtype), ignore_index=IGNORE)


def pixel_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    valid = labels != IGNORE
    if not bool(valid.any()):
        return logits.new_zeros(())
    return (logits.argmax(1)[valid] == labels[valid]).float().mean()


@register_recipe("semantic")
class SemanticRecipe(Recipe):
    arch = "semantic_sim"
    needs = "semantic"

    def __init__(self, cfg, device: torch.device):
        super().__init__(cfg, device)
        extra = dict(cfg.extra or {})
        num_classes = extra.get("num_classes") or dataset_num_classes(cfg.dataset)
        if num_classes is None:
            num_classes = len(CLASS_NAMES)
        try:
            conf = SemanticSimConfig(num_classes=int(num_classes),
                                     feature_channels=int(extra.get("feature_channels", 64)))
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"semantic: bad option: {exc}") from exc
        self.num_classes = conf.num_classes
        self.model = SemanticSimNet(conf).to(device)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        if "semantic" not in batch or float(batch.get("has_semantic", torch.ones(1)).min()) < 1:
            raise TrainingError("semantic recipe needs semantic GT (a simulator dataset)")
        out = self.model(batch["images"])
        logits = out["logits"].flatten(0, 1)  # (N, K, H, W)
        labels = batch["semantic"].flatten(0, 1).long()  # (N, H, W)
        if labels.dim() == 4:
            labels = labels[:, 0]
        labels = torch.where(labels >= self.num_classes, torch.full_like(labels, IGNORE), labels)
        ce = balanced_cross_entropy(logits, labels, self.num_classes)
        return {"ce": ce, "acc": pixel_accuracy(logits.detach(), labels).detach(), "total": ce}
