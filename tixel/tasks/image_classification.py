"""Image classification: an image reader, image preprocessing, a CNN (or any encoder) + softmax head."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from tixel import registry
from tixel.data.augment import is_active, random_affine
from tixel.data.batching import TensorBatches
from tixel.data.labels import LabelSet
from tixel.data.preprocess import ImagePreprocessing
from tixel.data.splits import make_splits
from tixel.errors import DataError
from tixel.models import build_classifier
from tixel.registry import register_task
from tixel.tasks import classification as clf


@dataclass
class Split:
    inputs: torch.Tensor
    targets: torch.Tensor
    source: str


@dataclass
class Prepared:
    splits: dict[str, Split]
    labels: LabelSet
    preprocessing: ImagePreprocessing


@register_task("image_classification")
class ImageClassification:
    name = "image_classification"
    metric_names = ("loss", "accuracy", "macro_f1")

    # ---------------------------------------------------------------- data
    def prepare(self, cfg, labels: Optional[LabelSet] = None, pre: Optional[ImagePreprocessing] = None) -> Prepared:
        """Read and split the data; fit labels and preprocessing on train unless given (from a bundle)."""
        raw = registry.create("reader", cfg.data.format, cfg.data)
        splits = make_splits(raw, cfg.data.split)
        if labels is None:
            labels = LabelSet(cfg.data.labels) if cfg.data.labels else LabelSet.fit(splits["train"].labels)
        if pre is None:
            pre = ImagePreprocessing.fit(splits["train"].images, cfg.data.image)
        encoded = {name: self._encode(s, labels, pre) for name, s in splits.items()}
        return Prepared(encoded, labels, pre)

    def prepare_labelled(self, path: str, labels: LabelSet, pre: ImagePreprocessing) -> Prepared:
        """One labelled source as the test split: a class-per-folder directory or a path,label CSV."""
        from tixel.data.image_csv import ImageCsvData, read_image_csv
        from tixel.data.image_folder import read_image_folder

        if Path(path).is_dir():
            images = read_image_folder(path, pre.channels, pre.size)
        elif Path(path).suffix.lower() == ".csv":
            cfg = ImageCsvData(format="image_csv", train=path, image={"size": pre.size, "channels": pre.channels})
            images = read_image_csv(path, cfg)
        else:
            raise DataError(f"--data {path}: expected a folder of class sub-folders or a .csv of path,label")
        return Prepared({"test": self._encode(images, labels, pre)}, labels, pre)

    @staticmethod
    def _encode(images, labels: LabelSet, pre: ImagePreprocessing) -> Split:
        targets = torch.from_numpy(labels.encode(images.labels, images.where))
        return Split(pre.apply(images.images), targets, images.source)

    def batches(self, split: Split, batch_size: int, shuffle: bool) -> TensorBatches:
        return TensorBatches(split.inputs, split.targets, batch_size, shuffle)

    # ---------------------------------------------------------------- model and training
    def build_model(self, cfg, labels: LabelSet, pre: ImagePreprocessing) -> torch.nn.Module:
        model = build_classifier(cfg.model, pre.input_shape, len(labels))
        if cfg.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def loss(self, cfg, prepared: Prepared):
        weight = clf.class_weights(cfg.train.class_weights, prepared.labels, prepared.splits["train"].targets)
        return clf.make_loss(cfg.train, weight)

    def augmenter(self, cfg):
        aug = cfg.data.augment
        return (lambda x: random_affine(x, aug)) if is_active(aug) else None

    hits = staticmethod(clf.hits)

    def validate(self, model, split: Split, batch_size: int, k: int, device) -> dict:
        return clf.quick_metrics(clf.logits_of(model, split.inputs, batch_size, device), split.targets, k)

    # ---------------------------------------------------------------- bundle and prediction
    def save_preprocessing(self, pre: ImagePreprocessing, folder: Path) -> None:
        (folder / "preprocessing.json").write_text(json.dumps(pre.to_dict(), indent=2))

    def load_preprocessing(self, folder: Path) -> ImagePreprocessing:
        return ImagePreprocessing.from_dict(json.loads((folder / "preprocessing.json").read_text()))

    def encode_inputs(self, pre: ImagePreprocessing, items: list[np.ndarray]) -> torch.Tensor:
        """Raw uint8 (H, W, C) images of any size -> the model's input batch."""
        return torch.cat([pre.apply(item[None]) for item in items])
