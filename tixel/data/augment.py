"""Random affine augmentation of a whole batch at once (one affine_grid + grid_sample call)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def is_active(cfg) -> bool:
    return bool(cfg.translate or cfg.rotate or cfg.scale or cfg.hflip)


def random_affine(x: torch.Tensor, cfg) -> torch.Tensor:
    """Uses the global torch RNG, whose state the checkpoint saves, so a resumed run is exact."""
    n = x.shape[0]
    angle = (torch.rand(n) * 2 - 1) * math.radians(cfg.rotate)
    scale = 1 + (torch.rand(n) * 2 - 1) * cfg.scale
    shift = (torch.rand(n, 2) * 2 - 1) * (2 * cfg.translate)  # grid coordinates span 2 units
    flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # border padding repeats the background rather than inventing a mean-grey frame
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
