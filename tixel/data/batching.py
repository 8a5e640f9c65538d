"""Batches of in-memory tensors, drawn by indexing whole tensors (no per-sample Python loop).

Inputs are a tensor (images) or a dict of tensors (text: input_ids padded to max_length, lengths).
Text batches are cut to their longest member (dynamic padding) and can be length-bucketed, so an LSTM
does not run over padding."""
from __future__ import annotations

from typing import Iterator, Optional, Union

import torch

Inputs = Union[torch.Tensor, dict]


def take(inputs: Inputs, index) -> Inputs:
    if not isinstance(inputs, dict):
        return inputs[index]
    batch = {k: v[index] for k, v in inputs.items()}
    if "lengths" in batch:
        longest = int(batch["lengths"].max())
        for key in ("input_ids", "attention_mask"):
            if key in batch:
                batch[key] = batch[key][:, :longest]
    return batch


def size_of(inputs: Inputs) -> int:
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


class TensorBatches:
    def __init__(self, inputs: Inputs, targets: Optional[torch.Tensor], batch_size: int, shuffle: bool,
                 bucket: bool = False):
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle = batch_size, shuffle
        self.bucket = bucket and isinstance(inputs, dict) and "lengths" in inputs
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> "TensorBatches":
        """Data-parallel: every process draws the same global batches and keeps its slice of each, so a
        run's batches (and its weights) do not depend on how many processes share them."""
        self.rank, self.world = rank, world
        return self

    def __len__(self) -> int:
        if self.world == 1:
            return -(-self.num_samples // self.batch_size)
        # the batch sizes (not their order) are the same every epoch, so any seed counts the merges
        return len(merge_small(self.order(torch.Generator().manual_seed(0)), self.world))

    @property
    def num_samples(self) -> int:
        return size_of(self.inputs)

    def order(self, generator: Optional[torch.Generator]) -> list[torch.Tensor]:
        n, bs = self.num_samples, self.batch_size
        if not self.shuffle:
            return list(torch.arange(n).split(bs))
        perm = torch.randperm(n, generator=generator)
        if not self.bucket:
            return list(perm.split(bs))
        # sort within windows of 50 batches by length, then shuffle the batches: little padding, still random
        batches = []
        for window in perm.split(bs * 50):
            by_length = window[torch.argsort(self.inputs["lengths"][window], stable=True)]
            batches += list(by_length.split(bs))
        return [batches[i] for i in torch.randperm(len(batches), generator=generator)]

    def indices(self, generator: Optional[torch.Generator], start: int) -> Iterator[torch.Tensor]:
        """This process's part of each batch; `start` skips batches already seen (exact resume)."""
        batches = self.order(generator)
        if self.world > 1:
            batches = merge_small(batches, self.world)
        for index in batches[start:]:
            yield index[self.rank::self.world] if self.world > 1 else index

    def epoch(self, generator: Optional[torch.Generator] = None, start: int = 0) -> Iterator:
        """Yield (inputs, targets) batches."""
        for index in self.indices(generator, start):
            yield take(self.inputs, index), None if self.targets is None else self.targets[index]


def merge_small(batches: list[torch.Tensor], least: int) -> list[torch.Tensor]:
    """Every process needs at least one example of each batch: one smaller than `least` joins its neighbour."""
    out: list[torch.Tensor] = []
    for index in batches:
        if out and (len(index) < least or len(out[-1]) < least):
            out[-1] = torch.cat([out[-1], index])
        else:
            out.append(index)
    return out


def length_groups(lengths: torch.Tensor, batch_size: int, spread: float = 1.3, least: int = 4) -> list[torch.Tensor]:
    """Indices for prediction batches of similar length: sorted, and a new batch starts once a text is
    `spread` times longer than the shortest in the current one (after at least `least` texts).
    A transformer pads every text to the batch's longest, so MiniLM on 32 random SST-2 sentences ran at
    57 sentences/s as one batch and at 82/s when the batches held sentences of similar length."""
    order = torch.argsort(lengths, stable=True)
    groups, start = [], 0
    for i in range(1, len(order) + 1):
        full = i - start >= batch_size
        spread_out = i < len(order) and i - start >= least and lengths[order[i]] > spread * lengths[order[start]]
        if i == len(order) or full or spread_out:
            groups.append(order[start:i])
            start = i
    return groups
