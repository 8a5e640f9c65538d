"""What every self-supervised task shares, so each objective's file holds only its objective.

No labels are read and the targets are placeholders (the objective makes its own per batch); the run's
report is the task's `validate` on the split; the encoder alone is saved, as `RUN/encoder/`, for
`model.encoder.from` to fine-tune. `ImagePretraining` adds what the image objectives share: a CNN
encoder, the options section, and the channels_last layout the image trainer uses."""
from __future__ import annotations

from pathlib import Path

import torch

from tixel.core.errors import ConfigError
from tixel.data.augment import is_active
from tixel.data.labels import LabelSet
from tixel.models import create_encoder
from tixel.models.saved_encoder import save_encoder
from tixel.tasks.image_classification import ImageClassification
from tixel.tasks.pretrain.common import write_report
from tixel.tasks.protocol import Capabilities, Prepared, StepOutput


class SelfSupervised:
    """A mixin placed before a supervised task class, whose reading and encoding it reuses."""
    train_metric_names = ()
    capabilities = Capabilities(outputs="none", saves_encoder=True)

    def prepare(self, cfg, labels=None, pre=None) -> Prepared:
        return super().prepare(cfg, LabelSet([]), pre)

    def targets(self, data, labels) -> None:
        return None  # the objective makes its own, per batch

    def training_step(self, model, batch: tuple) -> StepOutput:
        """`transform` made (inputs, targets); the model computes its objective's loss from them."""
        x, targets = batch
        _, loss = model(x, targets)
        return StepOutput(loss, _rows(x))

    def predict_rows(self, scorer, items: list, top_k: int = 3) -> list[dict]:
        raise ConfigError(f"task {self.name} pretrains an encoder; fine-tune it to predict")

    def summary(self, metrics: dict, split: str) -> str:
        raise NotImplementedError

    def report(self, model, prepared, split: str, out_dir: Path, history: list, device) -> dict:
        m = self.validate(model, prepared.splits[split], 64, device)
        return write_report(out_dir, m, self.summary(m, split))

    def save_artifacts(self, model, pre, run_dir: Path) -> Path:
        return save_encoder(model.encoder, self.encoder_cfg, pre, run_dir / "encoder")


def _rows(x) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


class ImagePretraining(SelfSupervised, ImageClassification):
    section = ""  # the config section of the objective's options
    options_class = None

    def configure(self, cfg):
        if cfg.model.encoder.type != "cnn":
            raise ConfigError(f"task {self.name}: model.encoder.type must be cnn")
        self.options = getattr(cfg, self.section) or self.options_class()
        self.encoder_cfg = cfg.model.encoder
        self.augment = cfg.data.augment if is_active(cfg.data.augment) else None
        return self

    def wrap(self, encoder, pre) -> torch.nn.Module:
        """The encoder with the objective's own head (projection, decoder)."""
        raise NotImplementedError

    def build_model(self, cfg, labels, pre, pretrained: bool = True, train=None) -> torch.nn.Module:
        model = self.wrap(create_encoder(cfg.model.encoder, pre.input_shape, pretrained), pre)
        return model.to(memory_format=torch.channels_last) if cfg.train.channels_last else model
