"""torch.distributed glue: the trainer runs unchanged alone or under ``torchrun``.

``torchrun --nproc_per_node=2 -m fsmde_gui.cli train ...`` sets ``RANK``/``WORLD_SIZE``/
``MASTER_ADDR``/``MASTER_PORT``; :func:`setup` then joins a process group (gloo on CPU, nccl
when CUDA is available) and the trainer wraps the trained net in DistributedDataParallel and
reads batches through a DistributedSampler. Only rank 0 writes files and events.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def local_rank() -> int:
    """This process's index on its node (torchrun's ``LOCAL_RANK``; 0 when alone)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def ddp_device_kwargs(device: torch.device) -> dict:
    """DistributedDataParallel's device arguments: one GPU per process on CUDA (its replica,
    gradients and outputs there), none on the CPU."""
    if device.type != "cuda":
        return {}
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"device_ids": [index], "output_device": index}


def setup() -> DistInfo:
    """Join the process group described by torchrun's environment (no-op when alone); with
    CUDA, nccl on this process's own GPU (``cuda:LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), False)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())  # before the group: nccl binds to the current GPU
    dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), True)


def teardown(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def all_true(flag: bool, info: DistInfo) -> bool:
    """True only if ``flag`` holds on every rank (so all ranks stop together)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def any_true(flag: bool, info: DistInfo) -> bool:
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
