"""The Task protocol: the one contract between a task family and the engine, the commands and the apps.

A task reads its data, fits (or loads) its preprocessing, builds its model, turns a batch into a loss,
validates, reports and predicts. What it can do is declared in `capabilities`; the engine and the
commands read that declaration and never probe a task with `hasattr`.

The model owns its loss, as nanoGPT's `forward(idx, targets)`: `model(x)` gives the output and
`model(x, targets)` gives `(output, loss)`. The task's `training_step` only says which part of a batch
the targets are and what to count; masking, views and augmentation are its `transform`, run on the
device before the forward pass and outside autocast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Literal,
    Optional,
    Protocol,
    Sequence,
    runtime_checkable,
)

import torch

from tixel.data.labels import LabelSet


@dataclass(frozen=True)
class Capabilities:
    """What a task can do, declared once; commands read these instead of probing the task."""
    trains: Literal["gradient", "fit"] = "gradient"  # the engine's loop, or the task's own `fit`
    outputs: str = "classes"  # the key of what `predict_rows` gives per item: classes (label, top_k),
    # entities, values (regression), or none (pretraining)
    ensemblable: bool = False  # single-label class probabilities that can be averaged with other bundles
    exportable: bool = False  # the forward pass exports to ONNX (tixel export)
    explainable: bool = False  # attributions to its inputs (set by the explanations work)
    generates: bool = False  # decodes sequences (seq2seq)
    saves_encoder: bool = False  # pretraining: RUN/encoder is written for fine-tuning to load


@dataclass
class Split:
    inputs: Any  # a tensor, or a dict of tensors
    targets: Optional[torch.Tensor]  # class ids, multi-hot floats, tag ids; None when the task makes its own
    source: str

    def __len__(self) -> int:
        if self.targets is not None:
            return len(self.targets)
        inputs = self.inputs
        return len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)


@dataclass
class Prepared:
    splits: dict[str, Split]
    labels: LabelSet
    preprocessing: Any


@dataclass
class StepOutput:
    """One training batch: the mean loss, how many examples it averages over, and per-batch sums of the
    task's training metrics (e.g. correct predictions), left on the device until the loop logs them."""
    loss: torch.Tensor
    count: int
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


class Trainable(Protocol):
    """What the engine's loop needs of whatever it trains: a task, or a stage of one."""
    train_metric_names: tuple[str, ...]

    def transform(self, batch: tuple) -> tuple: ...
    def training_step(self, model: torch.nn.Module, batch: tuple) -> StepOutput: ...


class SupervisedSteps:
    """The training step of a task (or stage) whose batches are (inputs, targets) and whose model owns its
    loss, with no training metric beyond the loss."""
    train_metric_names: tuple[str, ...] = ()

    def transform(self, batch: tuple) -> tuple:
        return batch

    def training_step(self, model: torch.nn.Module, batch: tuple) -> StepOutput:
        x, targets = batch
        _, loss = model(x, targets)
        return StepOutput(loss, len(targets))


@dataclass
class Stage:
    """A training stage of a task that fits itself (few-shot), handed to the engine's loop, which trains
    `model` on `batches` with the run's device, precision, schedule, checkpoints and exact resume."""
    name: str  # unique within the run: its checkpoints are RUN/stages/<name>/
    model: torch.nn.Module
    batches: Any  # TensorBatches of (inputs, targets)
    steps: Trainable
    epochs: int
    lr: float
    seed: int


TrainStage = Callable[[Stage], list]  # trains the stage in place; returns its per-epoch metrics


class Scorer(Protocol):
    """What `predict_rows` gets from the engine's Predictor (or an ensemble of them)."""
    bundle: Any
    batch_size: int
    device: torch.device

    def probabilities(self, items: Sequence) -> torch.Tensor: ...


@runtime_checkable
class Task(Protocol):
    name: str
    inputs: Literal["text", "image"]  # what predict and serve take
    metric_names: tuple[str, ...]  # validation metrics, logged as val_<name>
    train_metric_names: tuple[str, ...]  # StepOutput.metrics keys, logged as train_<name>
    multi_label: bool

    @property
    def capabilities(self) -> Capabilities: ...

    def configure(self, cfg) -> "Task": ...

    # data and preprocessing
    def prepare(self, cfg, labels: Optional[LabelSet] = None, pre: Any = None) -> Prepared: ...
    def prepare_labelled(self, path: str, labels: LabelSet, pre: Any, cfg) -> Prepared: ...
    def encode(self, pre: Any, items: Sequence) -> Any: ...
    def load_file(self, path: str | Path) -> Any: ...
    def batches(self, split: Split, batch_size: int, shuffle: bool, bucket: bool = True): ...

    # model and training
    def build_model(self, cfg, labels: LabelSet, pre: Any, pretrained: bool = True) -> torch.nn.Module: ...
    def transform(self, batch: tuple) -> tuple: ...
    def training_step(self, model: torch.nn.Module, batch: tuple) -> StepOutput: ...
    def validate(self, model: torch.nn.Module, split: Split, batch_size: int, device: torch.device) -> dict: ...
    def fit(self, cfg, run_dir: Path, log: Callable[[str], None],
            train_stage: TrainStage) -> tuple[Prepared, torch.nn.Module]: ...

    # evaluation and prediction
    def report(self, model, prepared: Prepared, split: str, out_dir: Path, history: list, device) -> dict: ...
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor: ...
    def predict_rows(self, scorer: Scorer, items: list, top_k: int = 3) -> list[dict]: ...
    def save_artifacts(self, model: torch.nn.Module, pre: Any, run_dir: Path) -> Optional[Path]: ...
