"""Pretrained word vectors (tixel/data/vectors.py reads them) copied into an embedding layer."""
from __future__ import annotations

import numpy as np
import torch

from tixel.core.errors import ConfigError
from tixel.data.vectors import load_vectors


def embedding_from_vectors(embedding: torch.nn.Embedding, vocab: dict[str, int], name_or_path: str) -> float:
    """Copy the vectors of the words found into `embedding`; returns the coverage of the vocabulary."""
    index, matrix = load_vectors(name_or_path)
    if matrix.shape[1] != embedding.embedding_dim:
        raise ConfigError(f"model.encoder.embedding_dim is {embedding.embedding_dim} but the vectors "
                          f"{name_or_path!r} have {matrix.shape[1]} dimensions")
    found = [(i, index.get(w, index.get(w.lower()))) for w, i in vocab.items()]
    found = [(i, j) for i, j in found if j is not None]
    if found:
        rows, src = map(list, zip(*found))
        with torch.no_grad():
            embedding.weight[rows] = torch.from_numpy(np.asarray(matrix[src], dtype=np.float32))
    return len(found) / max(1, len(vocab))
