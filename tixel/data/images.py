"""What every image reader shares: the in-memory ImageSet, the common schema, and Pillow decoding."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence

import numpy as np
from pydantic import Field

from tixel.core.config import Section
from tixel.core.errors import DataError
from tixel.data.examples import Origins

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class SplitConfig(Section):
    """Fractions carved out of `train` for the splits that are not given as files (stratified)."""
    validation: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)
    seed: int = 0
    stratify: bool = True
    train_limit: Optional[int] = Field(None, ge=1, description="keep a seeded stratified subset of train")


class ImageConfig(Section):
    size: Optional[tuple[int, int]] = Field(None, description="(height, width); default: the data's own")
    channels: Optional[Literal[1, 3]] = Field(None, description="1 = grey, 3 = RGB; default: the data's")
    normalize: bool = True
    mean: Optional[list[float]] = Field(None, description="per channel, on 0..1; default: fitted on train")
    std: Optional[list[float]] = None


class AugmentConfig(Section):
    """Random affine transforms of training batches (vectorised on tensors)."""
    translate: float = Field(0.0, ge=0, lt=0.5, description="max shift as a fraction of the size")
    rotate: float = Field(0.0, ge=0, le=180, description="max rotation in degrees")
    scale: float = Field(0.0, ge=0, lt=1, description="max zoom in or out, as a fraction")
    hflip: bool = False


class ImageDataBase(Section):
    split: SplitConfig = SplitConfig()
    image: ImageConfig = ImageConfig()
    augment: AugmentConfig = AugmentConfig()
    labels: Optional[list[str]] = Field(None, description="the label set; default: labels seen in train")


@dataclass
class ImageSet(Origins):
    images: np.ndarray  # uint8, (N, H, W, C)
    labels: Optional[list[str]]
    source: str
    rows: Optional[Sequence] = None  # per-image origin (CSV line, file path) for error messages

    def __len__(self) -> int:
        return len(self.images)

    @property
    def items(self):
        return self.images

    def subset(self, index: np.ndarray) -> "ImageSet":
        labels = None if self.labels is None else [self.labels[i] for i in index]
        return ImageSet(self.images[index], labels, self.source, self.rows_of(index))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The one resize used at training and at prediction, so both see the same pixels."""
    from PIL import Image

    if image.shape[:2] == tuple(size):
        return image
    pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
    out = np.asarray(pil.resize((size[1], size[0]), Image.Resampling.BILINEAR))
    return out.reshape(size[0], size[1], image.shape[2])


class ImageTooLarge(DataError):
    """More pixels than allowed: refused from the header, before anything is decoded."""


def load_image(source, channels: int | None, size: tuple[int, int] | None,
               max_pixels: int | None = None) -> np.ndarray:
    """A path or a binary file object -> uint8 (H, W, C)."""
    from PIL import Image, UnidentifiedImageError

    name = source if isinstance(source, (str, Path)) else "image"
    try:
        with Image.open(source) as pil:
            if max_pixels and pil.width * pil.height > max_pixels:
                raise ImageTooLarge(f"{name}: {pil.width}x{pil.height} pixels is more than the limit of {max_pixels}")
            pil.load()
            mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if pil.mode in ("1", "L", "I;16", "I") else "RGB")
            array = np.array(pil.convert(mode))
    except Image.DecompressionBombError as err:  # Pillow's own limit, checked on open, before ours can be
        declared = re.search(r"\((\d+) pixels\)", str(err))
        raise ImageTooLarge(f"{name}: {int(declared.group(1)) if declared else 'too many':,} pixels is more than "
                            f"the limit of {max_pixels or Image.MAX_IMAGE_PIXELS:,}") from None
    except UnidentifiedImageError:  # its message names the file object (<_io.BytesIO object at 0x...>)
        raise DataError(f"{name}: cannot read image (not an image format Pillow reads: PNG, JPEG, ...)") from None
    except OSError as err:
        raise DataError(f"{name}: cannot read image ({err})") from None
    array = array.reshape(array.shape[0], array.shape[1], -1)
    return resize(array, size) if size else array


def stack_images(arrays: list[np.ndarray], paths: list) -> np.ndarray:
    first = arrays[0].shape
    for array, path in zip(arrays, paths):
        if array.shape != first:
            raise DataError(
                f"{path}: image is {array.shape[1]}x{array.shape[0]}x{array.shape[2]}, the first was "
                f"{first[1]}x{first[0]}x{first[2]}; set data.image.size to resize them to one size"
            )
    return np.stack(arrays)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
