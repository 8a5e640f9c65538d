"""Sentence embeddings from a local checkpoint (MiniLM by default): mean pooling over real tokens, L2
normalised, as sentence-transformers computes them, with an on-disk cache keyed by model and text hash.

The cache is one SQLite file (stdlib, safe to share between processes; no pickling: vectors are raw
float32 bytes). Its location is $TIXEL_CACHE_DIR or ~/.cache/tixel.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from tixel.core.device import to_device
from tixel.core.log import quiet_transformers
from tixel.data.pretrained import resolve
from tixel.data.tokenize import encode, load_tokenizer
from tixel.models.pooling import masked_pool


def cache_dir() -> Path:
    return Path(os.environ.get("TIXEL_CACHE_DIR", Path.home() / ".cache" / "tixel"))


class EmbeddingCache:
    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path else cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS vec (model TEXT, key TEXT, data BLOB, PRIMARY KEY (model, key))")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=30)

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT key, data FROM vec WHERE model = ? AND key IN ({marks})", [model, *chunk])
                found.update({k: np.frombuffer(d, dtype=np.float32) for k, d in rows})
        return found

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)",
                           [(model, k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()])


def text_key(text: str, max_length: int) -> str:
    return hashlib.sha256(f"{max_length}\0{text}".encode()).hexdigest()


class SentenceEncoder:
    """Texts -> (N, dim) unit vectors. `encoded` counts texts actually run through the model."""

    def __init__(self, name_or_path: str = "minilm-l6", max_length: int = 256, batch_size: int = 32,
                 cache: Optional[EmbeddingCache] | bool = True, model: Optional[torch.nn.Module] = None):
        self.folder = resolve(name_or_path)
        self.tokenizer = load_tokenizer(self.folder)
        self.model = model if model is not None else _load_model(self.folder)
        self.max_length, self.batch_size = max_length, batch_size
        self.cache = EmbeddingCache() if cache is True else (cache or None)
        self.model_id = _model_id(self.folder)
        self.encoded = 0

    def __call__(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        keys = [text_key(t, self.max_length) for t in texts]
        known = self.cache.get(self.model_id, sorted(set(keys))) if self.cache else {}
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
        if missing:
            vectors = self.encode([t for _, t in missing], progress)
            fresh = {k: v for (k, _), v in zip(missing, vectors)}
            if self.cache:
                self.cache.put(self.model_id, fresh)
            known.update(fresh)
        return np.stack([known[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dim) unit vectors, differentiable (few-shot fine-tuning runs through this)."""
        device = next(self.model.parameters()).device
        batch = to_device(encode(self.tokenizer, list(texts), self.max_length), device)
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return torch.nn.functional.normalize(masked_pool(hidden, batch["attention_mask"], "mean"), dim=-1)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Run the model, longest texts first in batches (little padding); no cache."""
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in _progress(range(0, len(texts), self.batch_size), progress, len(texts), self.batch_size):
            index = order[start:start + self.batch_size]
            out[index] = self.forward([texts[i] for i in index]).float().cpu().numpy()
        self.encoded += len(texts)
        return out

    def weights_changed(self) -> None:
        """After fine-tuning: a new cache identity, from the weights themselves."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().numpy().tobytes())
        self.model_id = "tuned-" + digest.hexdigest()[:16]


def _load_model(folder: Path) -> torch.nn.Module:
    from transformers import AutoModel

    with quiet_transformers():  # the unused pooler's load report and the load bar are noise here
        return AutoModel.from_pretrained(folder, local_files_only=True)


def _model_id(folder: Path) -> str:
    """Identifies the weights without hashing 90 MB: the folder, its config and the weights' size and mtime."""
    parts = [str(folder.resolve()), (folder / "config.json").read_text()]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).exists():
            stat = (folder / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _progress(steps, enabled: bool, total: int, batch: int):
    if not enabled:
        return steps
    from rich.progress import track

    return track(steps, description=f"embedding {total:,} texts", total=len(steps))
