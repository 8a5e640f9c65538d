"""Zero-shot classification: texts and label prompts embedded by a sentence encoder (MiniLM by default),
cosine similarity, softmax with a temperature; multi-label by a cosine threshold. Nothing is trained.

The preprocessing *is* the sentence encoder (with its on-disk cache), so the model is only the label
matrix; `tixel train` builds it from the prompts and writes the bundle and a report in one step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.errors import ConfigError
from tixel.core.log import quiet_transformers
from tixel.core.registry import register, register_task
from tixel.data.inputs import read_text_file
from tixel.data.labels import LabelSet
from tixel.data.preprocessors import register_preprocessor
from tixel.models.sentence import SentenceEncoder
from tixel.tasks.base import ClassificationTask
from tixel.tasks.protocol import Capabilities, Prepared
from tixel.tasks.text_classification import read_labelled_file


class ZeroShotConfig(Section):
    labels: Union[list[str], dict[str, str], None] = Field(
        None, description="names, or name -> description (the text embedded); default: data.labels")
    templates: list[str] = Field(["{label}"], description='prompts, e.g. "This review is {label}."; averaged')
    temperature: float = Field(0.05, gt=0, description="softmax temperature on cosine similarities")
    threshold: Optional[float] = Field(None, ge=-1, le=1, description="multi-label: every label with cosine >= this")
    max_length: int = Field(256, ge=8)
    batch_size: int = Field(32, ge=1)
    cache: bool = Field(True, description="cache embeddings on disk ($TIXEL_CACHE_DIR or ~/.cache/tixel)")


register("section", "zero_shot", ZeroShotConfig)(ZeroShotConfig)


@register_preprocessor("sentence")
class SentencePreprocessing:
    """Texts -> unit vectors. An untouched encoder is saved as a reference (its name or folder); a
    fine-tuned one (few-shot) is saved into the bundle as safetensors with its tokenizer."""

    def __init__(self, encoder_name: str, max_length: int, batch_size: int = 32, cache: bool = True):
        self.encoder_name, self.max_length, self.tuned, self.cache = encoder_name, max_length, False, cache
        self.encoder = SentenceEncoder(encoder_name, max_length, batch_size, cache)

    def apply(self, texts) -> torch.Tensor:
        return torch.from_numpy(self.encoder(list(texts), progress=len(texts) > 256))

    fitted_fields = ("zero_shot.max_length", "few_shot.max_length")

    def state(self, folder: Path) -> dict:
        """A tuned encoder (few-shot) is written beside the state as a Hugging Face folder, `encoder/`."""
        if self.tuned:
            with quiet_transformers():
                self.encoder.model.save_pretrained(folder / "encoder", safe_serialization=True)
            self.encoder.tokenizer.save(str(folder / "encoder" / "tokenizer.json"))
        return {"encoder": "encoder" if self.tuned else self.encoder_name, "max_length": self.max_length,
                "in_bundle": self.tuned, "cache": self.cache}

    @classmethod
    def from_state(cls, state: dict, folder: Path) -> "SentencePreprocessing":
        name = str(folder / state["encoder"]) if state.get("in_bundle") else state["encoder"]
        pre = cls(name, state["max_length"], cache=state.get("cache", True))
        pre.tuned = bool(state.get("in_bundle"))
        return pre


class LabelSimilarity(nn.Module):
    """Embeddings (N, d) -> logits: cosine with each label's prompt embedding, over the temperature.
    With a threshold, logits are (cosine - threshold) / temperature, so logit > 0 means 'label applies'."""

    def __init__(self, labels: torch.Tensor, temperature: float, threshold: Optional[float] = None):
        super().__init__()
        self.register_buffer("labels", labels)
        self.temperature, self.threshold = temperature, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos = nn.functional.normalize(x, dim=-1) @ self.labels.T
        return (cos - (self.threshold or 0.0)) / self.temperature


def label_texts(cfg: ZeroShotConfig, names: list[str]) -> list[list[str]]:
    """The prompts of each label: every template filled with the label's description (or name)."""
    described = cfg.labels if isinstance(cfg.labels, dict) else {}
    return [[t.format(label=described.get(n, n)) for t in cfg.templates] for n in names]


def label_matrix(encoder, prompts: list[list[str]]) -> torch.Tensor:
    """Each label's prompts embedded, averaged and re-normalised (several templates, one direction)."""
    flat = [p for group in prompts for p in group]
    vectors = torch.from_numpy(encoder(flat))
    groups = vectors.split([len(g) for g in prompts])
    return torch.stack([nn.functional.normalize(g.mean(0), dim=0) for g in groups])


@register_task("zero_shot_classification")
class ZeroShotClassification(ClassificationTask):
    name = "zero_shot_classification"

    @property
    def capabilities(self) -> Capabilities:
        """Built from prompts (or, few-shot, fitted by `fit`), not trained by the engine's loop."""
        return Capabilities(trains="fit", ensemblable=not self.multi_label)

    def configure(self, cfg):
        self.options = cfg.zero_shot or ZeroShotConfig()
        self.multi_label = self.options.threshold is not None
        return self

    def prepare(self, cfg, labels=None, pre=None):
        if labels is None and self.options.labels:
            labels = LabelSet(list(self.options.labels))
        prepared = super().prepare(cfg, labels, pre)
        if list(prepared.splits) == ["train"]:  # nothing is fitted on it: all the data is test data
            prepared.splits = {"test": prepared.splits["train"]}
        return prepared

    def fit(self, cfg, run_dir: Path, log, train_stage=None):
        """The label matrix from the prompts; nothing trains, so no stage is handed to the engine."""
        prepared = self.prepare(cfg)
        return prepared, self.build_model(cfg, prepared.labels, prepared.preprocessing)

    def targets(self, data, labels):
        if self.multi_label and data.labels and isinstance(data.labels[0], str):
            data.labels = [[x] for x in data.labels]  # single-label data scored with a threshold
        return super().targets(data, labels)

    def fit_preprocessing(self, train_set, cfg) -> SentencePreprocessing:
        return SentencePreprocessing(encoder_name(cfg), self.options.max_length, self.options.batch_size,
                                     self.options.cache)

    def encode(self, pre: SentencePreprocessing, items) -> torch.Tensor:
        return pre.apply(list(items))

    def build_model(self, cfg, labels, pre: SentencePreprocessing, pretrained: bool = True,
                    train=None) -> LabelSimilarity:
        if pretrained:
            matrix = label_matrix(pre.encoder, label_texts(self.options, labels.names))
        else:  # a bundle: model.safetensors holds the matrix
            matrix = torch.zeros(len(labels), pre.encoder.dim)
        return LabelSimilarity(matrix, self.options.temperature, self.options.threshold)

    def load_file(self, path) -> str:
        return read_text_file(path)

    def prepare_labelled(self, path, labels, pre, cfg=None) -> Prepared:
        return Prepared({"test": self.encode_split(read_labelled_file(path, cfg), labels, pre)}, labels, pre)


def encoder_name(cfg) -> str:
    encoder = cfg.model.encoder
    name = getattr(encoder, "pretrained", None)
    if encoder.type != "transformer" or not name:
        raise ConfigError("model.encoder: zero-shot needs a pretrained sentence encoder, "
                          "e.g. {type: transformer, pretrained: minilm-l6}")
    return name


def zero_shot_config(labels: list[str], templates: list[str], encoder: str = "minilm-l6",
                     threshold: Optional[float] = None, temperature: float = 0.05) -> dict:
    """The config `tixel predict --zero-shot` runs with: no data, no training."""
    return {"task": "zero_shot_classification", "data": {"format": "jsonl", "train": "-"},
            "model": {"encoder": {"type": "transformer", "pretrained": encoder}},
            "zero_shot": {"labels": labels, "templates": templates, "threshold": threshold,
                          "temperature": temperature}}
