"""Gathering rows across torchrun processes with gradients, for losses computed over the global batch
(SimCLR's negatives). One process: a no-op. The process group itself is the engine's (engine/distributed)."""
from __future__ import annotations

import torch
import torch.distributed as dist


class _GatherRows(torch.autograd.Function):
    """all_gather whose backward all-reduces the gradients and keeps this rank's part.

    Written here because torch.distributed.nn's all_gather backs off to gloo's all_to_all on CPU, which
    left a thread joinable at exit: about 1 process in 5 died with SIGABRT after destroy_process_group.
    all_reduce is the collective DDP itself relies on; it sends world-size times the rows a
    reduce-scatter would, which is nothing next to a model's gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        summed = torch.stack(grads).contiguous()
        dist.all_reduce(summed)
        return summed[dist.get_rank()]


def all_gather_rows(x: torch.Tensor) -> list[torch.Tensor]:
    """Every process's `x` (row counts may differ by process), with gradients flowing back to their owners.

    Rows are padded to the longest and cut again, since all_gather needs equal shapes. One process: [x]."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [x]
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([len(x)], device=x.device))
    most = int(max(sizes))
    padded = torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, most - len(x)))
    return [part[: int(n)] for part, n in zip(_GatherRows.apply(padded), sizes)]
