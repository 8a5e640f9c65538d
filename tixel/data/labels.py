"""The label set: names in a fixed order, encoded to class indices."""
from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from tixel.core.errors import DataError


def natural_key(name: str):
    # "2" before "10", as a user reading the confusion matrix expects.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class LabelSet:
    def __init__(self, names: Sequence[str]):
        if len(set(names)) != len(names):
            raise DataError(f"labels: duplicate names in {list(names)}")
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def fit(cls, labels: Sequence[str]) -> "LabelSet":
        return cls(sorted(set(labels), key=natural_key))

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, labels: Sequence[str], where: Callable[[int], str]) -> np.ndarray:
        out = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            if label not in self.index:
                raise DataError(f"{where(i)}: label {label!r} is not in the label set {self.names}")
            out[i] = self.index[label]
        return out
