"""Metrics shared by the classification tasks (image, text, zero- and few-shot), and the class weights
their loss takes."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tixel.core.device import to_device
from tixel.core.errors import ConfigError
from tixel.data.batching import TensorBatches, length_groups, take


def class_weights(cfg_weights, labels, train_targets: torch.Tensor):
    """None, 'balanced' (n / (k * count), as scikit-learn) or {label: weight}."""
    if cfg_weights is None:
        return None
    k = len(labels)
    if cfg_weights == "balanced":
        if train_targets.dim() == 2:  # multi-label: pos_weight = negatives / positives per label
            positives = train_targets.sum(0).clamp_min(1)
            return (len(train_targets) - positives) / positives
        counts = torch.bincount(train_targets, minlength=k).float().clamp_min(1)
        return counts.sum() / (k * counts)
    unknown = set(cfg_weights) - set(labels.names)
    if unknown:
        raise ConfigError(f"train.class_weights: {sorted(unknown)} not in the label set {labels.names}")
    return torch.tensor([float(cfg_weights.get(name, 1.0)) for name in labels.names])


def multilabel_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    pred = (logits > 0).float()
    tp, fp, fn = (pred * targets).sum(0), (pred * (1 - targets)).sum(0), ((1 - pred) * targets).sum(0)
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    return {
        "loss": F.binary_cross_entropy_with_logits(logits, targets).item(),
        "accuracy": (pred == targets).all(1).float().mean().item(),  # exact match of the label set
        "macro_f1": f1.mean().item(),
        "micro_f1": (2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp_min(1)).item(),
    }


@torch.no_grad()
def logits_of(model, inputs, batch_size: int, device=torch.device("cpu")) -> torch.Tensor:
    """Logits in the order of `inputs`; texts run in batches of similar length (less padding)."""
    model.eval()
    if not (isinstance(inputs, dict) and "lengths" in inputs):
        batches = TensorBatches(inputs, None, batch_size, shuffle=False)
        return torch.cat([model(to_device(x, device)).float().cpu() for x, _ in batches.epoch()])
    groups = length_groups(inputs["lengths"], batch_size)
    parts = [model(to_device(take(inputs, index), device)).float().cpu() for index in groups]
    out = torch.empty(len(inputs["lengths"]), *parts[0].shape[1:]) if parts else torch.empty(0)
    for index, part in zip(groups, parts):
        out[index] = part
    return out


def quick_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    """Loss, accuracy and macro-F1 from a confusion matrix built with one bincount."""
    k = logits.shape[1]
    pred = logits.argmax(1)
    confusion = torch.bincount(targets * k + pred, minlength=k * k).view(k, k).double()
    tp = confusion.diag()
    precision = tp / confusion.sum(0).clamp_min(1)
    recall = tp / confusion.sum(1).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    present = confusion.sum(1) > 0
    return {
        "loss": F.cross_entropy(logits, targets).item(),
        "accuracy": (tp.sum() / len(targets)).item(),
        "macro_f1": f1[present].mean().item(),
    }
