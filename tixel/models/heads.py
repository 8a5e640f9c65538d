"""Task heads on top of an encoder's pooled features."""
from __future__ import annotations

from torch import nn

from tixel.models.layers import activation


class ClassificationHead(nn.Sequential):
    """[Linear -> act -> dropout] per hidden size, then dropout and the output layer (logits)."""

    def __init__(self, in_dim: int, num_classes: int, cfg):
        layers: list[nn.Module] = []
        for width in cfg.hidden:
            layers += [nn.Linear(in_dim, width), activation(cfg.activation), nn.Dropout(cfg.dropout)]
            in_dim = width
        if cfg.dropout and not cfg.hidden:
            layers.append(nn.Dropout(cfg.dropout))
        layers.append(nn.Linear(in_dim, num_classes))
        super().__init__(*layers)
