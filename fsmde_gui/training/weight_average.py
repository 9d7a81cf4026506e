"""An exponential moving average of the trained net's weights (``ema_decay`` > 0).

Built on ``torch.optim.swa_utils.AveragedModel`` with its EMA update: after every optimiser
step ``w_ema <- decay * w_ema + (1 - decay) * w`` (the first update copies ``w``); buffers
(batch-norm statistics) are averaged the same way. The average is what ``final.pt`` holds; it
travels in ``checkpoints/last.pt`` so that a resumed run ends with the same weights.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """``WeightAverage(net, decay)``; ``update(net)`` after each step; ``.net`` the average."""

    def __init__(self, net: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self._averaged = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                                       use_buffers=True)

    @property
    def net(self) -> nn.Module:
        """The averaged copy of the net (same class and configuration)."""
        return self._averaged.module

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self._averaged.update_parameters(net)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "averaged": self._averaged.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if float(state["decay"]) != self.decay:
            raise ValueError(f"the saved average has ema_decay {state['decay']}, "
                             f"this run {self.decay}")
        self._averaged.load_state_dict(state["averaged"])
