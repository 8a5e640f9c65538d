"""Data-parallel sharding: every process's slices of a batch make up the one-process batch, exactly."""
import torch

from tixel.data.batching import TensorBatches, merge_small


def test_shards_partition_every_one_process_batch():
    inputs = {"input_ids": torch.arange(103).view(-1, 1).repeat(1, 5), "lengths": torch.randint(1, 6, (103,))}
    one = TensorBatches(inputs, torch.arange(103), 16, shuffle=True, bucket=True)
    whole = [y for _, y in one.epoch(torch.Generator().manual_seed(3))]
    parts = [[y for _, y in TensorBatches(inputs, torch.arange(103), 16, True, True).shard(r, 3)
              .epoch(torch.Generator().manual_seed(3))] for r in range(3)]
    assert all(len(p) == len(parts[0]) for p in parts)  # every process takes the same number of steps
    merged = merge_small([torch.tensor(b.tolist()) for b in whole], 3)
    for i, batch in enumerate(merged):
        assert sorted(torch.cat([p[i] for p in parts]).tolist()) == sorted(batch.tolist())


def test_a_batch_smaller_than_the_processes_joins_its_neighbour():
    batches = [torch.arange(0, 4), torch.arange(4, 5), torch.arange(5, 9)]
    assert [len(b) for b in merge_small(batches, 2)] == [5, 4]
    assert [len(b) for b in merge_small([torch.arange(1), torch.arange(1, 5)], 2)] == [5]


def test_length_counts_the_batches_that_merge_small_joins():
    # 65 = 32 + 32 + 1: under 2 processes the lone example joins its neighbour, so an epoch has 2 steps
    batches = TensorBatches(torch.zeros(65, 3), torch.arange(65), 32, shuffle=True).shard(0, 2)
    assert len(batches) == 2 == len(list(batches.epoch(torch.Generator().manual_seed(1))))
    assert len(TensorBatches(torch.zeros(65, 3), torch.arange(65), 32, shuffle=True)) == 3
