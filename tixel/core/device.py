"""Where tensors live: the device a config names, and moving a batch (a tensor or a dict of them) there."""
from __future__ import annotations

import torch

from tixel.core.errors import ConfigError


def to_device(batch, device: torch.device):
    """A tensor, or a dict, tuple or list of them (None kept), on `device`; on the CPU, untouched."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    if batch is None or device.type == "cpu":
        return batch
    return batch.to(device, non_blocking=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' requested but no CUDA device is available")
    return torch.device(name)
