"""Pooling a (batch, time, dim) sequence under a padding mask."""
import torch
from torch import nn


def masked_pool(seq: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(seq.dtype)
    if how == "mean":
        return (seq * mask).sum(1) / mask.sum(1).clamp_min(1.0)
    if how == "max":
        return seq.masked_fill(mask == 0, torch.finfo(seq.dtype).min).max(1).values
    raise ValueError(f"unknown pooling {how!r}")


class AttentionPool(nn.Module):
    """A learned query scores each position; softmax over the real (unpadded) positions (Yang et al. 2016)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))

    def forward(self, seq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(seq).squeeze(-1).masked_fill(~mask.bool(), float("-inf"))
        return (scores.softmax(-1).unsqueeze(-1) * seq).sum(1)
