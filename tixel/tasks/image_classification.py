"""Image classification: an image reader, image preprocessing, a CNN (or any encoder) + softmax head."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

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
from tixel.tasks.base import ClassificationTask
from tixel.tasks.protocol import Prepared, Split


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
        if any(isinstance(item, str) for item in items):
            raise DataError("this model takes images (files, or uint8 arrays), but got text; pass image files")
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

    def configure(self, cfg) -> "ImageClassification":
        self.augment = cfg.data.augment if is_active(cfg.data.augment) else None
        return super().configure(cfg)

    def build_model(self, cfg, labels: LabelSet, pre: ImagePreprocessing, pretrained: bool = True,
                    train: Optional[Split] = None):
        model = build_classifier(cfg.model, pre.input_shape, len(labels), pretrained,
                                 self.criterion(cfg, labels, train))
        if cfg.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def transform(self, batch: tuple) -> tuple:
        """Random affine augmentation of the training images, on the device, from torch's RNG (which the
        checkpoints save, so a resumed run draws the same)."""
        x, y = batch
        return (random_affine(x, self.augment), y) if self.augment is not None else batch

    def load_file(self, path):
        return load_image(path, None, None)

