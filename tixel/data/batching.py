"""Batches of in-memory tensors, drawn by indexing whole tensors (no per-sample Python loop)."""
from __future__ import annotations

from typing import Iterator, Optional

import torch


class TensorBatches:
    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, shuffle: bool):
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self) -> int:
        return -(-len(self.targets) // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.targets)

    def epoch(self, generator: Optional[torch.Generator] = None, start: int = 0) -> Iterator:
        """Yield (inputs, targets) batches; `start` skips batches already seen (exact resume)."""
        n = len(self.targets)
        order = torch.randperm(n, generator=generator) if self.shuffle else None
        for begin in range(start * self.batch_size, n, self.batch_size):
            if order is None:
                yield self.inputs[begin : begin + self.batch_size], self.targets[begin : begin + self.batch_size]
            else:
                index = order[begin : begin + self.batch_size]
                yield self.inputs[index], self.targets[index]
