from collections import Counter

import numpy as np
import pytest
import torch

from tixel.core.errors import DataError
from tixel.data.batching import TensorBatches
from tixel.data.images import ImageSet, SplitConfig
from tixel.data.labels import LabelSet
from tixel.data.splits import make_splits


def image_set(n=100, classes=4):
    labels = [str(i % classes) for i in range(n)]
    return ImageSet(np.zeros((n, 2, 2, 1), np.uint8), labels, "mem.csv", list(range(2, n + 2)))


def test_fraction_splits_are_stratified_disjoint_and_seeded():
    splits = make_splits({"train": image_set()}, SplitConfig(validation=0.2, test=0.2, seed=3))
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": 64, "validation": 16, "test": 20}
    assert Counter(splits["test"].labels) == {str(c): 5 for c in range(4)}
    rows = [set(map(str, s.rows)) for s in splits.values()]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    again = make_splits({"train": image_set()}, SplitConfig(validation=0.2, test=0.2, seed=3))
    assert again["test"].rows == splits["test"].rows


def test_explicit_test_split_is_kept():
    test = image_set(12)
    splits = make_splits({"train": image_set(), "test": test}, SplitConfig(validation=0.1, test=0.3))
    assert splits["test"] is test and len(splits["train"]) == 90


def test_empty_split_is_an_error():
    empty = ImageSet(np.zeros((0, 2, 2, 1), np.uint8), [], "t10k.idx")
    with pytest.raises(DataError, match="t10k.idx: the test split is empty"):
        make_splits({"train": image_set(), "test": empty}, SplitConfig(validation=0))


def test_too_few_examples_to_stratify_is_explained():
    with pytest.raises(DataError, match="give data.validation as a file"):
        make_splits({"train": image_set(5, classes=5)}, SplitConfig(validation=0.2, test=0))


def test_label_outside_the_set_names_the_row():
    labels = LabelSet(["0", "1"])
    data = image_set(6, classes=3)
    with pytest.raises(DataError, match=r"mem.csv, line 4: label '2' is not in the label set"):
        labels.encode(data.labels, data.where)


def test_label_order_is_natural():
    assert LabelSet.fit(["10", "2", "1", "b", "a"]).names == ["1", "2", "10", "a", "b"]


def test_batches_cover_each_sample_once_and_resume_skips():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    batches = TensorBatches(x, y, 3, shuffle=True)
    seen = torch.cat([yb for _, yb in batches.epoch(torch.Generator().manual_seed(0))])
    assert len(batches) == 4 and sorted(seen.tolist()) == list(range(10))
    tail = torch.cat([yb for _, yb in batches.epoch(torch.Generator().manual_seed(0), start=2)])
    assert tail.tolist() == seen[6:].tolist()
