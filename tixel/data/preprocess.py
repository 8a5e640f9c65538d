"""Image preprocessing fitted on the training split and saved in the bundle, so that prediction
converts a PNG exactly as training converted its data."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
import torch

from tixel.data.images import resize
from tixel.data.preprocessors import register_preprocessor


@register_preprocessor("image")
@dataclass
class ImagePreprocessing:
    fitted_fields: ClassVar[tuple[str, ...]] = ("data.image",)
    size: tuple[int, int]
    channels: int
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, images: np.ndarray, cfg) -> "ImagePreprocessing":
        size = tuple(cfg.size) if cfg.size else tuple(images.shape[1:3])
        channels = cfg.channels or images.shape[3]
        mean, std = [0.0] * channels, [1.0] * channels
        if cfg.normalize:
            x = cls(size, channels, mean, std).apply(images[:20000])  # a sample is plenty for 2 moments
            mean = cfg.mean or x.mean(dim=(0, 2, 3)).tolist()
            std = cfg.std or x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
        return cls(size, channels, list(mean), list(std))

    def apply(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, C) -> float32 (N, C, H, W), resized, channel-converted and normalised."""
        images = _convert_channels(images, self.channels)
        if images.shape[1:3] != self.size:
            images = np.stack([resize(im, self.size) for im in images])
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std).contiguous()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)

    def state(self, folder: Path) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict, folder: Path) -> "ImagePreprocessing":
        return cls(tuple(state["size"]), int(state["channels"]), list(state["mean"]), list(state["std"]))


def _convert_channels(images: np.ndarray, channels: Optional[int]) -> np.ndarray:
    have = images.shape[3]
    if have == channels:
        return images
    if channels == 3 and have == 1:
        return np.repeat(images, 3, axis=3)
    if channels == 1 and have == 3:
        # ITU-R 601 luma, the weights Pillow's convert("L") uses
        luma = images @ np.array([0.299, 0.587, 0.114])
        return np.rint(luma).astype(np.uint8)[..., None]
    raise ValueError(f"cannot convert {have}-channel images to {channels}")
