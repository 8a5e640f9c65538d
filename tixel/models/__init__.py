"""Encoders (registry: cnn, ...) + a task head = a model."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from tixel.core import registry
from tixel.models.heads import ClassificationHead
from tixel.models.losses import ClassificationLoss


class Classifier(nn.Module):
    """encoder -> head -> logits; `model(x, targets)` gives (logits, loss) through its own criterion."""

    def __init__(self, encoder: nn.Module, head: nn.Module, criterion: Optional[nn.Module] = None):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.criterion = criterion or ClassificationLoss()

    def forward(self, x, targets: Optional[torch.Tensor] = None):
        logits = self.head(self.encoder(x))
        if targets is None:
            return logits
        return logits, self.criterion(logits, targets)


def create_encoder(cfg, spec, pretrained: bool = True) -> nn.Module:
    """`spec` describes the input (image shape, or the text preprocessing); `pretrained=False` when a
    bundle is loaded, since its weights replace whatever pretrained weights would be read."""
    return registry.create("encoder", cfg.type, cfg, spec, pretrained=pretrained)


def build_classifier(model_cfg, spec, num_classes: int, pretrained: bool = True,
                     criterion: Optional[nn.Module] = None) -> Classifier:
    encoder = create_encoder(model_cfg.encoder, spec, pretrained)
    model = Classifier(encoder, ClassificationHead(encoder.output_dim, num_classes, model_cfg.head), criterion)
    loaded = pretrained and getattr(model_cfg.encoder, "pretrained", None)
    initialize(model.head if loaded else model, model_cfg.init)  # never re-initialise loaded weights
    return model


def initialize(model: nn.Module, scheme: str) -> None:
    """'default' keeps PyTorch's init; 'glorot_uniform' is Keras' default (zero biases), so a network
    ported from Keras trains as it did there."""
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            if scheme == "glorot_uniform":
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total)"""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
