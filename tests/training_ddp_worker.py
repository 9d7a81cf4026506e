"""Worker for the DDP test (run by torchrun): train a few steps (with a weight average), dump
this rank's weight checksums."""
from __future__ import annotations

import json
import os
import sys

import torch

from fsmde_gui.training.config import TrainConfig
from fsmde_gui.training.recipes import unwrap
from fsmde_gui.training.trainer import Trainer


def main(dataset: str, out: str) -> None:
    cfg = TrainConfig(recipe="supervised", dataset=dataset, out=out, image_size=(96, 64), steps=3,
                      lr=2e-3, warmup_steps=1, checkpoint_every=0, log_every=1, seed=5,
                      num_threads=1, ema_decay=0.5,
                      student={"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                               "decoder_widths": [32, 24, 16, 16], "bin_hidden": 32,
                               "num_bins": 16})
    trainer = Trainer(cfg)
    result = trainer.run()
    params = torch.cat([p.detach().flatten() for p in unwrap(trainer.recipe.model).parameters()])
    averaged = torch.cat([p.detach().flatten() for p in trainer.average.net.parameters()])
    rank = int(os.environ.get("RANK", "0"))
    with open(os.path.join(out, f"checksum_rank{rank}.json"), "w") as fh:
        json.dump({"rank": rank, "world": trainer.dist_info.world_size, "step": result["step"],
                   "sum": float(params.double().sum()), "abs": float(params.double().abs().sum()),
                   "first": params[:8].tolist(),
                   "average_sum": float(averaged.double().sum())}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
