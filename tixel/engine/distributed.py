"""Data-parallel training under `torchrun` (torch.distributed): gloo on CPU, NCCL on GPU.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them everything here is a no-op for one process.
`train.batch_size` is the global batch: each process takes its slice of every batch (TensorBatches.shard)
and scales its loss by its share, so DDP's gradient average equals the one-process gradient and a run
gives the same weights on 1 or N processes. Only rank 0 evaluates, writes checkpoints, logs and the bundle;
the metrics it decides patience with are broadcast, so every process stops at the same epoch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_env(device_name: str) -> World:
    """Join the process group torchrun describes; one process when it is not there."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return SINGLE
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return world


def device_for(world: World, device: torch.device) -> torch.device:
    return torch.device("cuda", world.local_rank) if device.type == "cuda" and world.active else device


def wrap(model: torch.nn.Module, world: World, device: torch.device, changing: bool = False) -> torch.nn.Module:
    """What the train step calls: DDP around the model (whose own state_dict stays unprefixed for saving)."""
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # `changing`: gradual unfreezing leaves some parameters without gradients in some epochs
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=changing)


def sum_all(world: World, *values: float) -> list[float]:
    """Element-wise sums over all processes (a batch's size, the epoch's loss and hits)."""
    if not world.active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return t.tolist()


def _collective_device() -> torch.device:
    """NCCL reduces only CUDA tensors; gloo takes CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast(world: World, obj: Any) -> Any:
    """Rank 0's object on every process."""
    if not world.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(world: World, obj: Any) -> list:
    if not world.active:
        return [obj]
    out: list = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def close(world: World) -> None:
    """Tear down in step: a process that destroyed its group and exited while rank 0 was still writing the
    bundle once died in gloo's teardown (SIGABRT, "terminate called without an active exception")."""
    if world.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
