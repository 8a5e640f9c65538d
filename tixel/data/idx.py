"""IDX files (MNIST, Fashion-MNIST), raw or gzipped. Format: http://yann.lecun.com/exdb/mnist/"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from tixel.core.config import Section
from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.images import ImageDataBase, ImageSet

# IDX type byte -> big-endian numpy dtype
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxPair(Section):
    images: str
    labels: str


class IdxData(ImageDataBase):
    format: Literal["idx"]
    train: IdxPair
    validation: Optional[IdxPair] = None
    test: Optional[IdxPair] = None


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path}: corrupt or truncated gzip stream ({err})") from None


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header (needs {header} bytes, file has {len(data)})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: IDX header promises shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(data) - header}: truncated or corrupt"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).copy()  # writable, for torch


def read_pair(pair: IdxPair) -> ImageSet:
    images, labels = read_idx(pair.images), read_idx(pair.labels)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise DataError(f"{pair.images}: expected uint8 images (N, H, W[, C]), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{pair.labels}: expected {len(images)} labels to match {pair.images}, got shape {labels.shape}"
        )
    images = images[..., None] if images.ndim == 3 else images
    return ImageSet(images, [str(int(v)) for v in labels], pair.labels)


@register_reader("idx", IdxData)
def read_idx_splits(cfg: IdxData) -> dict[str, ImageSet]:
    splits = {"train": cfg.train, "validation": cfg.validation, "test": cfg.test}
    return {name: read_pair(pair) for name, pair in splits.items() if pair is not None}
