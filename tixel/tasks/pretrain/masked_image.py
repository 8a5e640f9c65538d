"""Masked-image reconstruction for an image encoder (`task: masked_image`; SimMIM, Xie et al. 2022).

Random square patches of each unlabelled image are blanked to 0 (the mean pixel, after normalisation),
and the encoder plus a linear decoder rebuild the whole image from what is left; the loss is the L1 error
on the blanked pixels only, as in SimMIM, so copying the visible pixels earns nothing. The masks are drawn
by the task's batch `transform` from torch's global RNG, which the trainer's checkpoints save, so a
resumed run masks exactly as an uninterrupted one; the model takes them as its targets. The result is `RUN/encoder/`, the same folder SimCLR
writes, which `model.encoder.from: RUN/encoder` fine-tunes; the decoder is dropped.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.device import to_device
from tixel.core.registry import register, register_task
from tixel.tasks.pretrain.base import ImagePretraining
from tixel.tasks.protocol import Split


class MaskedImageConfig(Section):
    patch_size: int = Field(4, ge=1, description="side of the square patches that are masked, in pixels")
    mask_ratio: float = Field(0.5, gt=0, lt=1, description="fraction of the patches masked in each image")


register("section", "masked_image", MaskedImageConfig)(MaskedImageConfig)


def patch_mask(n: int, height: int, width: int, cfg: MaskedImageConfig, device=None) -> torch.Tensor:
    """(n, 1, H, W) floats, 1 on masked pixels: round(ratio * patches) whole patches per image."""
    rows, cols = math.ceil(height / cfg.patch_size), math.ceil(width / cfg.patch_size)
    count = max(1, round(cfg.mask_ratio * rows * cols))
    order = torch.rand(n, rows * cols).argsort(1)
    grid = torch.zeros(n, rows * cols)
    grid.scatter_(1, order[:, :count], 1.0)
    grid = grid.view(n, 1, rows, cols)
    full = grid.repeat_interleave(cfg.patch_size, 2).repeat_interleave(cfg.patch_size, 3)
    return full[:, :, :height, :width].to(device)


def masked_l1(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the masked pixels (every channel) only."""
    error = (recon.float() - target.float()).abs() * mask
    return error.sum() / (mask.sum() * target.shape[1]).clamp_min(1)


class MaskedImageModel(nn.Module):
    def __init__(self, encoder: nn.Module, shape: tuple[int, int, int], cfg: MaskedImageConfig):
        super().__init__()
        self.encoder, self.shape, self.cfg = encoder, tuple(shape), cfg
        self.decoder = nn.Linear(encoder.output_dim, math.prod(self.shape))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        """The reconstruction of `x` with the `mask`ed pixels (1 = masked) blanked; with a mask, also the L1
        error on the masked pixels."""
        if mask is None:
            return self.decoder(self.encoder(x)).view(-1, *self.shape)
        recon = self.decoder(self.encoder(x * (1 - mask))).view(-1, *self.shape)
        return recon, masked_l1(recon, x, mask)


@register_task("masked_image")
class MaskedImageTask(ImagePretraining):
    name = "masked_image"
    metric_names = ("loss",)
    section, options_class = "masked_image", MaskedImageConfig

    def wrap(self, encoder, pre) -> MaskedImageModel:
        return MaskedImageModel(encoder, pre.input_shape, self.options)

    def transform(self, batch: tuple) -> tuple:
        """(augmented images, their patch masks), the masks drawn from torch's CPU RNG."""
        x, _ = super().transform(batch)
        return x, patch_mask(x.shape[0], x.shape[2], x.shape[3], self.options, x.device).to(x.dtype)

    @torch.no_grad()
    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        """The masked L1 on fixed masks of the split (the same every epoch), without augmentation."""
        total, count = 0.0, 0
        model.eval()
        with torch.random.fork_rng(devices=[]):  # the masks are drawn on the CPU; training's stream is kept
            torch.manual_seed(0)
            for x, _ in self.batches(split, 256, shuffle=False).epoch():
                x = to_device(x, device)
                mask = patch_mask(x.shape[0], x.shape[2], x.shape[3], self.options, x.device).to(x.dtype)
                total, count = total + float(model(x, mask)[1]) * len(x), count + len(x)
        return {"loss": total / max(1, count)}

    def summary(self, m: dict, split: str) -> str:
        return f"masked-image reconstruction on the {split} split: L1 on masked pixels {m['loss']:.4f}"
