"""What every classification task shares: read -> split -> label set -> fitted preprocessing -> tensors,
the training step, the metrics, the report and the predicted rows. A subclass says how its inputs are
preprocessed (`fit_preprocessing`, `encode`) and may transform a training batch (augmentation)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from tixel.core import registry
from tixel.core.errors import TixelError
from tixel.data.batching import TensorBatches
from tixel.data.labels import LabelSet
from tixel.data.splits import make_splits
from tixel.models.losses import ClassificationLoss
from tixel.tasks import classification as clf
from tixel.tasks.protocol import Capabilities, Prepared, Scorer, Split, StepOutput
from tixel.tasks.reports.tables import write_metrics


class ClassificationTask:
    name = ""
    metric_names = ("loss", "accuracy", "macro_f1")
    multi_label = False
    inputs = "text"  # what predict and serve take: "text" (strings) or "image" (uint8 arrays)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(ensemblable=not self.multi_label, exportable=True)

    @property
    def train_metric_names(self) -> tuple[str, ...]:
        return () if self.multi_label else ("accuracy",)

    def configure(self, cfg) -> "ClassificationTask":
        self.multi_label = bool(getattr(cfg.data, "multi_label", False))
        return self

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
    def criterion(self, cfg, labels: LabelSet, train: Optional[Split]) -> ClassificationLoss:
        """The model's loss; class weights are fitted on the training split when one is given."""
        weight = clf.class_weights(cfg.train.class_weights, labels, train.targets) if train is not None else None
        return ClassificationLoss(self.multi_label, cfg.train.label_smoothing, weight)

    def transform(self, batch: tuple) -> tuple:
        return batch

    def training_step(self, model, batch: tuple) -> StepOutput:
        x, y = batch
        logits, loss = model(x, y)
        metrics = {} if self.multi_label else {"accuracy": (logits.detach().argmax(1) == y).sum()}
        return StepOutput(loss, len(y), metrics)

    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        logits = clf.logits_of(model, split.inputs, batch_size, device)
        if self.multi_label:
            return clf.multilabel_metrics(logits, split.targets)
        return clf.quick_metrics(logits, split.targets)

    def fit(self, cfg, run_dir: Path, log, train_stage=None):
        raise TixelError(f"task {self.name} trains by gradient through the engine's loop, not by fit")

    # ---------------------------------------------------------------- evaluation and prediction
    def report(self, model, prepared: Prepared, split: str, out_dir: Path, history: list, device) -> dict:
        data = prepared.splits[split]
        logits = clf.logits_of(model, data.inputs, 512, device)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits if self.multi_label
                else torch.nn.functional.cross_entropy)(logits, data.targets)
        return write_metrics(out_dir, self.probabilities(logits), data.targets, prepared.labels.names,
                             self.multi_label, history, loss.item())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self.multi_label else logits.softmax(-1)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids, or a multi-hot 0/1 matrix (threshold 0.5) when multi-label."""
        return (logits > 0).long() if self.multi_label else logits.argmax(1)

    def predict_rows(self, scorer: Scorer, items: list, top_k: int = 3) -> list[dict]:
        """The label, the top-k labels with their probabilities, and (multi-label) every label above 0.5."""
        probs = scorer.probabilities(items)
        values, index = probs.topk(min(top_k, probs.shape[1]), dim=1)
        names = scorer.bundle.labels.names
        rows = []
        for p, row, vals in zip(probs, index.tolist(), values.tolist()):
            out = {"label": names[row[0]],
                   "top_k": [{"label": names[i], "prob": round(v, 6)} for i, v in zip(row, vals)]}
            if self.multi_label:
                out["labels"] = [names[i] for i in torch.nonzero(p > 0.5).flatten().tolist()]
            rows.append(out)
        return rows

    def save_artifacts(self, model, pre, run_dir: Path) -> Optional[Path]:
        return None
