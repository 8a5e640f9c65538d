"""What every self-supervised task shares, so each objective's file holds only its objective.

No labels are read and the targets are placeholders (the objective makes its own per batch); the run's
report is the task's `validate` on the split; the encoder alone is saved, as `RUN/encoder/`, for
`model.encoder.from` to fine-tune. `ImagePretraining` adds what the image objectives share: a CNN
encoder, the options section, and the channels_last layout the image trainer uses."""
from __future__ import annotations

from pathlib import Path

import torch

from tixel.core.errors import ConfigError
from tixel.data.labels import LabelSet
from tixel.models import create_encoder
from tixel.models.saved_encoder import save_encoder
from tixel.tasks.base import Prepared
from tixel.tasks.image_classification import ImageClassification
from tixel.tasks.pretrain.common import write_report


class SelfSupervised:
    """A mixin placed before a supervised task class, whose reading and encoding it reuses."""
    hits = None  # no class accuracy during training

    def prepare(self, cfg, labels=None, pre=None) -> Prepared:
        return super().prepare(cfg, LabelSet([]), pre)

    def targets(self, data, labels) -> torch.Tensor:
        return torch.zeros(len(data), dtype=torch.long)

    def summary(self, metrics: dict, split: str) -> str:
        raise NotImplementedError

    def report(self, model, prepared, split: str, out_dir: Path, history: list, device) -> dict:
        m = self.validate(model, prepared.splits[split], 64, 0, device)
        return write_report(out_dir, m, self.summary(m, split))

    def after_save(self, model, pre, run_dir: Path) -> Path:
        return save_encoder(model.encoder, self.encoder_cfg, pre, run_dir / "encoder")


class ImagePretraining(SelfSupervised, ImageClassification):
    section = ""  # the config section of the objective's options
    options_class = None

    def configure(self, cfg):
        if cfg.model.encoder.type != "cnn":
            raise ConfigError(f"task {self.name}: model.encoder.type must be cnn")
        self.options = getattr(cfg, self.section) or self.options_class()
        self.encoder_cfg = cfg.model.encoder
        return self

    def wrap(self, encoder, pre) -> torch.nn.Module:
        """The encoder with the objective's own head (projection, decoder)."""
        raise NotImplementedError

    def build_model(self, cfg, labels, pre, pretrained: bool = True) -> torch.nn.Module:
        model = self.wrap(create_encoder(cfg.model.encoder, pre.input_shape, pretrained), pre)
        return model.to(memory_format=torch.channels_last) if cfg.train.channels_last else model
