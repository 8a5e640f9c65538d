"""What every classification task shares: read -> split -> label set -> fitted preprocessing -> tensors,
the loss, the metrics and decoding. A task subclass says how its inputs are preprocessed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from tixel.core import registry
from tixel.data.batching import TensorBatches
from tixel.data.labels import LabelSet
from tixel.data.splits import make_splits
from tixel.tasks import classification as clf


@dataclass
class Split:
    inputs: Any  # a tensor, or a dict of tensors
    targets: torch.Tensor  # class ids, or multi-hot floats when multi-label
    source: str


@dataclass
class Prepared:
    splits: dict[str, Split]
    labels: LabelSet
    preprocessing: Any


class ClassificationTask:
    name = ""
    metric_names = ("loss", "accuracy", "macro_f1")
    multi_label = False
    inputs = "text"  # what predict and serve take: "text" (strings) or "image" (uint8 arrays)

    # ---------------------------------------------------------------- hooks for subclasses
    def fit_preprocessing(self, train_set, cfg):
        raise NotImplementedError

    def encode(self, pre, items) -> Any:
        raise NotImplementedError

    # ---------------------------------------------------------------- data
    def prepare(self, cfg, labels: Optional[LabelSet] = None, pre=None) -> Prepared:
        """Read and split the data; fit labels and preprocessing on train unless given (from a bundle)."""
        splits = make_splits(registry.create("reader", cfg.data.format, cfg.data), cfg.data.split)
        if labels is None:
            labels = LabelSet(cfg.data.labels) if cfg.data.labels else LabelSet.fit(self._flat(splits["train"].labels))
        if pre is None:
            pre = self.fit_preprocessing(splits["train"], cfg)
        return Prepared({name: self.encode_split(s, labels, pre) for name, s in splits.items()}, labels, pre)

    def _flat(self, labels: list) -> list[str]:
        return [x for row in labels for x in row] if self.multi_label else labels

    def encode_split(self, data, labels: LabelSet, pre) -> Split:
        return Split(self.encode(pre, data.items), self.targets(data, labels), data.source)

    def targets(self, data, labels: LabelSet) -> torch.Tensor:
        if not self.multi_label:
            return torch.from_numpy(labels.encode(data.labels, data.where))
        hot = torch.zeros(len(data), len(labels))
        for i, row in enumerate(data.labels):
            hot[i, torch.from_numpy(labels.encode(row, lambda _: data.where(i)))] = 1.0
        return hot

    def batches(self, split: Split, batch_size: int, shuffle: bool, bucket: bool = False) -> TensorBatches:
        return TensorBatches(split.inputs, split.targets, batch_size, shuffle, bucket)

    # ---------------------------------------------------------------- training
    def loss(self, cfg, prepared: Prepared):
        weight = clf.class_weights(cfg.train.class_weights, prepared.labels, prepared.splits["train"].targets)
        return clf.make_bce_loss(weight) if self.multi_label else clf.make_loss(cfg.train, weight)

    @property
    def hits(self):
        return None if self.multi_label else clf.hits

    def augmenter(self, cfg):
        return None

    def validate(self, model, split: Split, batch_size: int, k: int, device) -> dict:
        logits = clf.logits_of(model, split.inputs, batch_size, device)
        if self.multi_label:
            return clf.multilabel_metrics(logits, split.targets)
        return clf.quick_metrics(logits, split.targets, k)

    # ---------------------------------------------------------------- prediction
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self.multi_label else logits.softmax(-1)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids, or a multi-hot 0/1 matrix (threshold 0.5) when multi-label."""
        return (logits > 0).long() if self.multi_label else logits.argmax(1)

    def configure(self, cfg) -> "ClassificationTask":
        self.multi_label = bool(getattr(cfg.data, "multi_label", False))
        return self

    def save_preprocessing(self, pre, folder: Path) -> None:
        pre.save(folder)
