"""What the token-prediction objectives (masked LM, RNN LM) and SimCLR share: the loss over labelled
positions, held-out token metrics, and the report a pretraining run ends with."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from tixel.core.device import to_device
from tixel.core.io import write_text


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the positions whose label is not -100; logits are (..., vocab), labels (...)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                       ignore_index=-100)


@torch.no_grad()
def token_metrics(model, batches, device, transform: Callable) -> dict:
    """Loss, accuracy and perplexity over every predicted token of `batches`. `transform` makes a batch's
    (inputs, token targets), -100 where nothing is predicted; `model(x, targets)` gives (logits, mean loss),
    its logits either one row per target position or one per predicted position only (the MLM head)."""
    loss_sum, right, count = 0.0, 0, 0
    model.eval()
    for batch in batches.epoch():
        x, labels = transform(to_device(batch, device))
        logits, loss = model(x, labels)
        real = labels != -100
        pred = logits.argmax(-1)[real] if logits.shape[:-1] == labels.shape else logits.argmax(-1)
        loss_sum += float(loss) * int(real.sum())
        right += int((pred == labels[real]).sum())
        count += int(real.sum())
    loss = loss_sum / max(1, count)
    return {"loss": loss, "accuracy": right / max(1, count), "perplexity": math.exp(min(loss, 50))}


def write_report(out_dir: Path, metrics: dict, text: str) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    write_text(out_dir / "report.txt", text + "\n")
    return {"metrics": metrics, "text": text, "dir": out_dir}
