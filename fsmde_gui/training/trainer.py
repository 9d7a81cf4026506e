"""One trainer for every recipe: seeds, AdamW + schedule, checkpoints, resume, cancel,
NaN/inf guard, progress events, TensorBoard, DDP.

Files under ``cfg.out``::

    checkpoints/last.pt   training state (model, optimizer, scheduler, step, RNG, weight
                          average) - resume
    final.pt              the trained net as a model checkpoint (models.checkpoint format);
                          with ``ema_decay`` > 0 the moving average of its weights
    config.json           the resolved TrainConfig
    tb/                   TensorBoard scalars (loss terms, lr)

Progress events (dicts, also JSON lines with ``fsmde train --progress jsonl``)::

    {"event": "progress"|"checkpoint"|"done"|"cancelled"|"error", "step", "total",
     "losses": {...}, "eta_s", "lr", "checkpoint": path|None}
"""
from __future__ import annotations

import json
import math
import random
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..core.atomic_io import atomic_write, atomic_write_text
from ..core.errors import CheckpointError, TrainingError
from ..models.checkpoint import save_checkpoint
from . import distributed as D
from .config import TrainConfig
from .dataset import StepBatchSampler, SurroundTrainingSet, jitter_colours
from .recipes import get_recipe, unwrap
from .weight_average import WeightAverage

STATE_FORMAT = "fsmde-train-state"
STATE_VERSION = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _atomic_torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    warm = max(0, min(cfg.warmup_steps, cfg.steps - 1))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "constant":
            return 1.0
        t = (step - warm) / max(1, cfg.steps - warm)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_device(name: str, local_rank: Optional[int] = None) -> torch.device:
    """``cfg.device`` -> a torch device; asking for CUDA where there is none is an error.

    Under ``torchrun`` each process trains on its own GPU: CUDA means ``cuda:LOCAL_RANK``
    (``local_rank``, default torchrun's ``LOCAL_RANK``), which must exist on this node."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device=cuda: no CUDA device is available here (use device=cpu "
                            "or device=auto)")
    if name != "cuda":
        return torch.device(name)
    rank = D.local_rank() if local_rank is None else int(local_rank)
    if rank >= torch.cuda.device_count():
        raise TrainingError(f"device=cuda: local rank {rank} has no GPU of its own (this node "
                            f"has {torch.cuda.device_count()}; start at most that many "
                            "processes per node)")
    return torch.device("cuda", rank)


class Trainer:
    """``Trainer(cfg, resume=False).run(progress=callback, cancel=threading.Event())``."""

    def __init__(self, cfg: TrainConfig, resume: bool = False,
                 device: Optional[torch.device] = None):
        cfg.validate()
        self.cfg = cfg
        self.resume = resume
        self.out = Path(cfg.out)
        self.device = device or training_device(cfg.device)
        # bf16 autocast: on CUDA unless switched off; on CPU only when asked for
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        self.last_path = self.out / "checkpoints" / "last.pt"
        self.final_path = self.out / "final.pt"
        self.recipe = None  # the recipe of the last run (its .model holds the trained net)
        self.dist_info: Optional[D.DistInfo] = None
        self.average: Optional[WeightAverage] = None  # ema_decay > 0

    # ------------------------------------------------------------------ state
    def _state(self, recipe, optimizer, scheduler, step: int) -> dict:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "recipe": self.cfg.recipe,
            "arch": recipe.arch,
            "model_config": recipe.model_config(),
            "config": self.cfg.to_dict(),
            "step": step,
            "model": unwrap(recipe.model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "weight_average": self.average.state_dict() if self.average else None,
        }

    def _load_state(self, path: Path, recipe, optimizer, scheduler) -> int:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(path, f"cannot read training state ({exc})") from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise CheckpointError(path, "not an FSMDE training checkpoint")
        if state.get("recipe") != self.cfg.recipe:
            raise CheckpointError(path, f"was written by recipe {state.get('recipe')!r}, "
                                  f"cannot resume recipe {self.cfg.recipe!r}")
        if state.get("model_config") != recipe.model_config():
            raise CheckpointError(path, "model architecture differs from the current config "
                                  f"(checkpoint {state.get('model_config')}, "
                                  f"now {recipe.model_config()})")
        try:
            unwrap(recipe.model).load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(path, f"incompatible weights ({exc})") from exc
        _set_rng_state(state["rng"])
        self._load_average(path, state.get("weight_average"))
        return int(state["step"])

    def _load_average(self, path: Path, saved: Optional[dict]) -> None:
        if self.average is None:
            return
        if saved is None:
            raise CheckpointError(path, "has no weight average; resume with the ema_decay it "
                                  "was trained with (0)")
        try:
            self.average.load_state_dict(saved)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(path, f"incompatible weight average ({exc})") from exc

    # ------------------------------------------------------------------- data
    def _loader(self, dataset, sampler, start: int) -> DataLoader:
        """Batches for steps ``start..steps-1`` (exact on resume), decoded by workers."""
        cfg = self.cfg
        return DataLoader(dataset, batch_sampler=StepBatchSampler(sampler, cfg.batch_size,
                                                                  start, cfg.steps),
                          num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda",
                          prefetch_factor=2 if cfg.num_workers else None,
                          # its own generator: the loader's seed draws must not move the
                          # global RNG (resumed, inline and worker runs stay identical)
                          generator=torch.Generator().manual_seed(cfg.seed))

    def _prepare(self, batch: dict, step: int, info: D.DistInfo) -> dict:
        batch["clean_images"] = batch["images"]
        if self.cfg.color_jitter > 0:
            g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step * 101 + info.rank)
            batch["images"] = torch.stack([jitter_colours(im, self.cfg.color_jitter, g)
                                           for im in batch["images"]])
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # -------------------------------------------------------------------- run
    def run(self, progress: Optional[Callable[[dict], None]] = None,
            cancel: Optional[threading.Event] = None) -> dict:
        cfg = self.cfg
        cancel = cancel or threading.Event()
        info = D.setup()
        try:
            return self._run(cfg, info, progress, cancel)
        finally:
            D.teardown(info)

    def _run(self, cfg: TrainConfig, info: D.DistInfo, progress, cancel) -> dict:
        recipe, dataset, sampler, optimizer, scheduler, start = self._setup(cfg, info, progress)
        writer = self._open_outputs(cfg, info, start)
        recipe.train()
        t0 = time.perf_counter()
        step, losses, status = start, {}, "done"
        batches = iter(self._loader(dataset, sampler, start))
        data_wait = 0.0  # seconds spent waiting for the loader (the rest is the step itself)

        def wait_frac() -> float:
            return round(data_wait / max(1e-9, time.perf_counter() - t0), 4)

        try:
            while step < cfg.steps:
                if D.any_true(cancel.is_set(), info):
                    status = "cancelled"
                    break
                t_wait = time.perf_counter()
                batch = self._prepare(next(batches), step, info)
                data_wait += time.perf_counter() - t_wait
                if D.any_true(cancel.is_set(), info):  # asked while the batch loaded: stop
                    status = "cancelled"  # before its step (a resume reads it again)
                    break
                losses = self._train_step(recipe, optimizer, scheduler, batch, step, info)
                step += 1
                ckpt = None
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
                    ckpt = self._save_last(recipe, optimizer, scheduler, step, info)
                if info.is_main:
                    lr = optimizer.param_groups[0]["lr"]
                    for k, v in losses.items():
                        writer.add_scalar(f"loss/{k}", v, step)
                    writer.add_scalar("lr", lr, step)
                    if ckpt or step % max(1, cfg.log_every) == 0 or step == cfg.steps \
                            or step == start + 1:
                        eta = (time.perf_counter() - t0) / (step - start) * (cfg.steps - step)
                        self._emit(progress, info, {
                            "event": "checkpoint" if ckpt else "progress", "step": step,
                            "total": cfg.steps, "losses": losses, "eta_s": round(eta, 1),
                            "lr": lr, "checkpoint": str(ckpt) if ckpt else None,
                            "data_wait_frac": wait_frac()})
            ckpt = self._save_last(recipe, optimizer, scheduler, step, info)
            final = None
            if status == "done":
                final = self._save_final(recipe, step, time.perf_counter() - t0, losses, info)
            result = {"event": status, "step": step, "total": cfg.steps, "losses": losses,
                      "eta_s": 0.0, "lr": optimizer.param_groups[0]["lr"],
                      "checkpoint": str(ckpt) if ckpt else None,
                      "final": str(final) if final else None,
                      "wall_s": round(time.perf_counter() - t0, 2),
                      "data_wait_s": round(data_wait, 3), "data_wait_frac": wait_frac()}
            self._emit(progress, info, result)
            return result
        finally:
            if writer is not None:
                writer.close()
            D.barrier(info)

    def _setup(self, cfg: TrainConfig, info: D.DistInfo, progress):
        """Seeds, recipe, data, optimizer and schedule; the resumed step (0 when fresh)."""
        torch.set_num_threads(max(1, int(cfg.num_threads)))
        seed_everything(cfg.seed)
        recipe = get_recipe(cfg.recipe)(cfg, self.device)
        self.recipe, self.dist_info = recipe, info  # kept for callers (tests, benchmarks)
        dataset = SurroundTrainingSet.from_config(cfg)
        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                     shuffle=True, seed=cfg.seed)
        optimizer = torch.optim.AdamW(list(recipe.parameters()), lr=cfg.lr,
                                      weight_decay=cfg.weight_decay)
        scheduler = make_scheduler(cfg, optimizer)
        if self.device.type == "cuda":  # channels-last convolutions (tensor cores)
            unwrap(recipe.model).to(memory_format=torch.channels_last)
        # the average copies the net as it trains (channels-last too); resume fills it in
        self.average = WeightAverage(recipe.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        start = 0
        if self.resume and self.last_path.exists():
            start = self._load_state(self.last_path, recipe, optimizer, scheduler)
        elif self.resume and info.is_main:
            self._emit(progress, info, {"event": "info", "message":
                                        f"no checkpoint at {self.last_path}; starting fresh"})
        if info.enabled:
            unused = bool(cfg.extra.get("find_unused_parameters", False))
            recipe.model = DistributedDataParallel(recipe.model, find_unused_parameters=unused,
                                                   **D.ddp_device_kwargs(self.device))
        return recipe, dataset, sampler, optimizer, scheduler, start

    def _open_outputs(self, cfg: TrainConfig, info: D.DistInfo, start: int):
        """The run folder, its config.json and the TensorBoard writer (rank 0 only)."""
        if not info.is_main:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "config.json", json.dumps(cfg.to_dict(), indent=2))
        from torch.utils.tensorboard import SummaryWriter  # heavy, only when training

        return SummaryWriter(str(self.out / "tb"), purge_step=start or None)

    def _train_step(self, recipe, optimizer, scheduler, batch: dict, step: int,
                    info: D.DistInfo) -> dict[str, float]:
        """One optimisation step; its loss terms as floats. Non-finite loss or gradient on any
        rank stops the run (the checkpoint on disk stays the last good one)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            terms = recipe.step(batch)
        values = {k: float(v.detach()) for k, v in terms.items()}
        finite = all(math.isfinite(v) for v in values.values())
        if not D.all_true(finite, info):
            bad = {k: v for k, v in values.items() if not math.isfinite(v)}
            raise TrainingError(
                f"non-finite loss at step {step + 1} ({bad or 'on another rank'}); "
                f"training stopped, {self._kept()}")
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        norm = torch.nn.utils.clip_grad_norm_(
            list(recipe.parameters()), self.cfg.grad_clip if self.cfg.grad_clip > 0 else 1e30)
        if not D.all_true(bool(torch.isfinite(norm)), info):
            raise TrainingError(f"non-finite gradient at step {step + 1}; training stopped, "
                                f"{self._kept()}")
        optimizer.step()
        scheduler.step()
        if self.average is not None:
            self.average.update(unwrap(recipe.model))
        return values

    def _kept(self) -> str:
        """What is left on disk after a failed step (said only when it is true)."""
        if self.last_path.exists():
            return f"last good checkpoint kept at {self.last_path}"
        return "no checkpoint had been written yet (nothing to resume from)"

    def _emit(self, progress, info: D.DistInfo, event: dict) -> None:
        if progress is not None and info.is_main:
            progress(event)

    def _save_last(self, recipe, optimizer, scheduler, step: int, info: D.DistInfo):
        if not info.is_main:
            return None
        _atomic_torch_save(self._state(recipe, optimizer, scheduler, step), self.last_path)
        return self.last_path

    def _save_final(self, recipe, step: int, wall_s: float, losses: dict, info: D.DistInfo):
        if not info.is_main:
            return None
        net = self.average.net if self.average else unwrap(recipe.model)
        meta = {"recipe": self.cfg.recipe, "steps": step, "seed": self.cfg.seed,
                "ema_decay": self.cfg.ema_decay,
                "dataset": str(self.cfg.dataset), "image_size": list(self.cfg.image_size),
                "train_wall_s": round(wall_s, 1), "final_losses": losses,
                "train_config": self.cfg.to_dict()}
        save_checkpoint(self.final_path, net, recipe.arch, recipe.model_config(), meta)
        return self.final_path
