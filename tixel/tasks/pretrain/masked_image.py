"""Masked-image reconstruction for an image encoder (`task: masked_image`; SimMIM, Xie et al. 2022).

Random square patches of each unlabelled image are blanked to 0 (the mean pixel, after normalisation),
and the encoder plus a linear decoder rebuild the whole image from what is left; the loss is the L1 error
on the blanked pixels only, as in SimMIM, so copying the visible pixels earns nothing. The masks are drawn
in the model's forward from torch's global RNG (as MAE does), which the trainer's checkpoints save, so a
resumed run masks exactly as an uninterrupted one. The result is `RUN/encoder/`, the same folder SimCLR
writes, which `model.encoder.from: RUN/encoder` fine-tunes; the decoder is dropped.
"""
from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.device import to_device
from tixel.core.registry import register, register_task
from tixel.tasks.base import Split
from tixel.tasks.pretrain.base import ImagePretraining


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


def masked_l1(out: tuple) -> torch.Tensor:
    """Mean absolute error over the masked pixels (every channel) only."""
    recon, target, mask = out
    error = (recon.float() - target.float()).abs() * mask
    return error.sum() / (mask.sum() * target.shape[1]).clamp_min(1)


class MaskedImageModel(nn.Module):
    def __init__(self, encoder: nn.Module, shape: tuple[int, int, int], cfg: MaskedImageConfig):
        super().__init__()
        self.encoder, self.shape, self.cfg = encoder, tuple(shape), cfg
        self.decoder = nn.Linear(encoder.output_dim, math.prod(self.shape))

    def forward(self, x: torch.Tensor) -> tuple:
        """(reconstruction, original, mask): the loss needs all three, and the mask is drawn here."""
        mask = patch_mask(x.shape[0], x.shape[2], x.shape[3], self.cfg, x.device).to(x.dtype)  # CPU RNG
        recon = self.decoder(self.encoder(x * (1 - mask))).view(-1, *self.shape)
        return recon, x, mask


@register_task("masked_image")
class MaskedImageTask(ImagePretraining):
    name = "masked_image"
    metric_names = ("loss",)
    section, options_class = "masked_image", MaskedImageConfig

    def wrap(self, encoder, pre) -> MaskedImageModel:
        return MaskedImageModel(encoder, pre.input_shape, self.options)

    def loss(self, cfg, prepared):
        return lambda out, _: masked_l1(out)

    @torch.no_grad()
    def validate(self, model, split: Split, batch_size: int, k: int, device) -> dict:
        """The masked L1 on fixed masks of the split (the same every epoch)."""
        total, count = 0.0, 0
        model.eval()
        with torch.random.fork_rng(devices=[]):  # the masks are drawn on the CPU; training's stream is kept
            torch.manual_seed(0)
            for x, _ in self.batches(split, 256, shuffle=False).epoch():
                total, count = total + float(masked_l1(model(to_device(x, device)))) * len(x), count + len(x)
        return {"loss": total / max(1, count)}

    def summary(self, m: dict, split: str) -> str:
        return f"masked-image reconstruction on the {split} split: L1 on masked pixels {m['loss']:.4f}"
