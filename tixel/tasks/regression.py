"""Regression on text (`task: text_regression`): a number per text, such as a review's rating or a
readability score, from any text encoder (RNN, text CNN, transformer) with a one-output head.

It reuses text classification's readers, tokenizer and encoders; what it adds is numeric targets (a label
that is not a number is an error naming its row), an output rescaled by the training targets' mean and
spread (kept in the weights), a squared-error or Huber loss the model owns, and MAE / RMSE / R² in
validation and in the report. A row of `predict` is {"value": float}.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from tixel.core import registry
from tixel.core.config import Section
from tixel.core.errors import DataError
from tixel.core.registry import register, register_task
from tixel.data.labels import LabelSet
from tixel.data.splits import make_splits
from tixel.models import build_classifier
from tixel.tasks.classification import logits_of
from tixel.tasks.pretrain.common import write_report
from tixel.tasks.protocol import Capabilities, Prepared, Scorer, Split, SupervisedSteps
from tixel.tasks.text_classification import TextClassification


class RegressionConfig(Section):
    loss: Literal["mse", "huber"] = Field("mse", description="squared error, or Huber (less swayed by outliers)")
    huber_delta: float = Field(1.0, gt=0, description="huber: where the loss turns from squared to linear")


register("section", "regression", RegressionConfig)(RegressionConfig)


class Rescale(nn.Module):
    """value = output * std + mean, with the training targets' statistics: the layers below work on a unit
    scale (an RNN's features are bounded, and Adam moves each weight by about lr a step, so a rating of 1 to
    5 is out of reach in a few epochs otherwise). Saved with the weights, so a bundle predicts in units."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class RegressionLoss(nn.Module):
    def __init__(self, cfg: RegressionConfig):
        super().__init__()
        self.cfg = cfg

    def forward(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = out.float().squeeze(-1)
        if self.cfg.loss == "huber":
            return F.huber_loss(out, targets, delta=self.cfg.huber_delta)
        return F.mse_loss(out, targets)


def scores(pred: torch.Tensor, targets: torch.Tensor) -> dict:
    error = pred - targets
    spread = ((targets - targets.mean()) ** 2).sum()
    return {"loss": float((error ** 2).mean()), "mae": float(error.abs().mean()),
            "rmse": math.sqrt(float((error ** 2).mean())),
            "r2": float(1 - (error ** 2).sum() / spread) if spread > 0 else 0.0}


@register_task("text_regression")
class TextRegression(TextClassification):
    name = "text_regression"
    metric_names = ("loss", "mae", "rmse", "r2")
    train_metric_names = ()
    capabilities = Capabilities(outputs="values", exportable=True)

    def configure(self, cfg):
        self.options = cfg.regression or RegressionConfig()
        self.bucket, self.multi_label = bool(getattr(cfg.data, "bucket", True)), False
        return self

    def prepare(self, cfg, labels: Optional[LabelSet] = None, pre=None) -> Prepared:
        """Splits are random, not stratified: every value is its own class."""
        split_cfg = cfg.data.split.model_copy(update={"stratify": False})
        splits = make_splits(registry.create("reader", cfg.data.format, cfg.data), split_cfg)
        pre = pre or self.fit_preprocessing(splits["train"], cfg)
        labels = LabelSet(["value"])
        return Prepared({name: self.encode_split(s, labels, pre) for name, s in splits.items()}, labels, pre)

    def targets(self, data, labels: LabelSet) -> torch.Tensor:
        values = []
        for i, label in enumerate(data.labels):
            try:
                values.append(float(label))
            except (TypeError, ValueError):
                raise DataError(f"{data.where(i)}: label {label!r} is not a number (task text_regression)") from None
        return torch.tensor(values)

    def build_model(self, cfg, labels, pre, pretrained: bool = True, train: Optional[Split] = None):
        model = build_classifier(cfg.model, pre, 1, pretrained, RegressionLoss(self.options))
        y = train.targets if train is not None else None
        scale = Rescale(float(y.mean()), float(y.std().clamp_min(1e-6))) if y is not None and len(y) > 1 else Rescale()
        model.head = nn.Sequential(model.head, scale)
        return model

    training_step = SupervisedSteps.training_step  # no accuracy to count

    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        return scores(logits_of(model, split.inputs, batch_size, device).squeeze(-1), split.targets)

    def report(self, model, prepared: Prepared, split: str, out_dir: Path, history: list, device) -> dict:
        m = self.validate(model, prepared.splits[split], 512, device)
        text = (f"regression on the {split} split ({len(prepared.splits[split])} texts): MSE {m['loss']:.4f}, "
                f"MAE {m['mae']:.4f}, RMSE {m['rmse']:.4f}, R2 {m['r2']:.4f}")
        return write_report(out_dir, m, text)

    def predict_rows(self, scorer: Scorer, items: list, top_k: int = 3) -> list[dict]:
        b = scorer.bundle
        out = logits_of(b.model, self.encode(b.preprocessing, items), scorer.batch_size, scorer.device)
        return [{"value": round(float(v), 6)} for v in out.squeeze(-1)]
