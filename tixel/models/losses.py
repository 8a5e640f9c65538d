"""The losses classifiers own (the model computes its loss from the targets, as nanoGPT's forward does)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class ClassificationLoss(nn.Module):
    """Cross-entropy with label smoothing and class weights, or, multi-label, one sigmoid per label (the
    seed's binary cross-entropy) with `weight` scaling the positives. The weights are fitted on the
    training split and only shape training, so they are not saved with the model (persistent=False)."""

    def __init__(self, multi_label: bool = False, label_smoothing: float = 0.0,
                 weight: Optional[torch.Tensor] = None):
        super().__init__()
        self.multi_label, self.label_smoothing = multi_label, label_smoothing
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), targets, pos_weight=self.weight)
        return F.cross_entropy(logits.float(), targets, weight=self.weight, label_smoothing=self.label_smoothing)
