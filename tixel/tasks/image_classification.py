"""Image classification: an image reader, image preprocessing, a CNN (or any encoder) + softmax head."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tixel.core.errors import DataError
from tixel.core.registry import register_task
from tixel.data.augment import is_active, random_affine
from tixel.data.image_csv import ImageCsvData, read_image_csv
from tixel.data.image_folder import read_image_folder
from tixel.data.images import load_image
from tixel.data.labels import LabelSet
from tixel.data.preprocess import ImagePreprocessing
from tixel.models import build_classifier
from tixel.tasks.base import ClassificationTask, Prepared


@register_task("image_classification")
class ImageClassification(ClassificationTask):
    name = "image_classification"
    inputs = "image"

    def fit_preprocessing(self, train_set, cfg) -> ImagePreprocessing:
        return ImagePreprocessing.fit(train_set.images, cfg.data.image)

    def encode(self, pre: ImagePreprocessing, items) -> torch.Tensor:
        """uint8 images, one array (N, H, W, C) or a list of (H, W, C) of any size -> the model's input."""
        if isinstance(items, np.ndarray):
            return pre.apply(items)
        return torch.cat([pre.apply(item[None]) for item in items])

    def prepare_labelled(self, path: str, labels: LabelSet, pre: ImagePreprocessing, cfg=None) -> Prepared:
        """One labelled source as the test split: a class-per-folder directory or a path,label CSV."""
        if Path(path).is_dir():
            images = read_image_folder(path, pre.channels, pre.size)
        elif Path(path).suffix.lower() == ".csv":
            cfg = ImageCsvData(format="image_csv", train=path, image={"size": pre.size, "channels": pre.channels})
            images = read_image_csv(path, cfg)
        else:
            raise DataError(f"--data {path}: expected a folder of class sub-folders or a .csv of path,label")
        return Prepared({"test": self.encode_split(images, labels, pre)}, labels, pre)

    def build_model(self, cfg, labels: LabelSet, pre: ImagePreprocessing, pretrained: bool = True):
        model = build_classifier(cfg.model, pre.input_shape, len(labels), pretrained)
        if cfg.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def augmenter(self, cfg):
        aug = cfg.data.augment
        return (lambda x: random_affine(x, aug)) if is_active(aug) else None

    def load_file(self, path):
        return load_image(path, None, None)

    def save_preprocessing(self, pre: ImagePreprocessing, folder: Path) -> None:
        (folder / "preprocessing.json").write_text(json.dumps(pre.to_dict(), indent=2))

    def load_preprocessing(self, folder: Path) -> ImagePreprocessing:
        return ImagePreprocessing.from_dict(json.loads((folder / "preprocessing.json").read_text()))
