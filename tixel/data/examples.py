"""What an in-memory set of labelled examples (images or texts) shares: origins for error messages and
subsetting by index, so every split of every reader still names its file and line."""
from __future__ import annotations

import numpy as np


class Origins:
    """Mixin for dataclasses with `source` (a file or folder) and `rows` (per-item line or path, or None)."""

    def where(self, i: int) -> str:
        if self.rows is None:
            return f"{self.source}, item {i}"
        row = self.rows[i]
        return f"{self.source}, line {row}" if isinstance(row, int) else str(row)

    def rows_of(self, index: np.ndarray) -> list:
        """The origins of `index`, resolved now: a subset's positions no longer match the file's."""
        return [self.rows[i] if self.rows is not None else self.where(i) for i in index]
