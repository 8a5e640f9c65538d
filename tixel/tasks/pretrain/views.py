"""SimCLR's augmentations, written on whole batches of tensors (Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", section 3 and appendix A): random resized crop, flips,
colour jitter (RGB only), Gaussian blur and noise. torchvision has them per image, but it does not import
beside this torch, and one affine_grid / grouped conv per batch is faster than a Python loop over images.
Every draw uses torch's global RNG, which the trainer's checkpoints save, so a resumed run is exact."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from tixel.core.config import Section


class ViewConfig(Section):
    crop_scale: tuple[float, float] = Field((0.35, 1.0), description="area of the random crop, as a fraction")
    crop_ratio: tuple[float, float] = Field((0.75, 1.3333), description="aspect ratio range of the crop")
    hflip: bool = Field(False, description="off for digits and text-like images, where a flip changes meaning")
    jitter: float = Field(0.4, ge=0, le=1, description="brightness / contrast (and saturation on RGB) strength")
    blur_probability: float = Field(0.5, ge=0, le=1)
    blur_sigma: tuple[float, float] = Field((0.1, 1.5), description="Gaussian blur sigma, in pixels")
    noise: float = Field(0.1, ge=0, description="std of additive Gaussian noise, on normalised inputs")


def two_views(x: torch.Tensor, cfg: ViewConfig) -> torch.Tensor:
    """(N, C, H, W) -> (2N, C, H, W): two independent augmentations of each image, view 1 then view 2."""
    return torch.cat([augment(x, cfg), augment(x, cfg)])


def augment(x: torch.Tensor, cfg: ViewConfig) -> torch.Tensor:
    x = resized_crop(x, cfg)
    x = jitter(x, cfg.jitter) if cfg.jitter else x
    x = blur(x, cfg.blur_probability, cfg.blur_sigma) if cfg.blur_probability else x
    return x + cfg.noise * torch.randn_like(x) if cfg.noise else x


def _uniform(n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n)


def resized_crop(x: torch.Tensor, cfg: ViewConfig) -> torch.Tensor:
    """A crop of random area and aspect ratio, anywhere in the image, resized back to the full size."""
    n = x.shape[0]
    area = _uniform(n, *cfg.crop_scale)
    ratio = torch.exp(_uniform(n, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    w, h = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    cx, cy = (torch.rand(n) * 2 - 1) * (1 - w), (torch.rand(n) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n)
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([w * flip, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def jitter(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Brightness (a shift) and contrast (a scale about each image's mean); saturation on RGB."""
    n = x.shape[0]
    shift = _uniform(n, -strength, strength).view(n, 1, 1, 1)
    scale = _uniform(n, 1 - strength, 1 + strength).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * scale + mean + shift
    if x.shape[1] == 3:
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * _uniform(n, 1 - strength, 1 + strength).view(n, 1, 1, 1)
    return x


def blur(x: torch.Tensor, probability: float, sigma: tuple[float, float]) -> torch.Tensor:
    """A separable Gaussian blur with its own sigma per image, as one grouped convolution per axis."""
    n, c, h, w = x.shape
    radius = max(1, int(math.ceil(2 * sigma[1])))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    sigmas = _uniform(n, *sigma).to(x.dtype)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigmas[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, k)
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernel[:, None, :, None], groups=n * c)
    chosen = (torch.rand(n) < probability).view(n, 1, 1, 1)
    return torch.where(chosen, flat.reshape(n, c, h, w), x)
