"""A folder with one sub-folder per class (Keras' image_dataset_from_directory layout)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.images import (
    ImageDataBase,
    ImageSet,
    list_images,
    load_image,
    stack_images,
)
from tixel.data.splits import SplitFiles, read_split_files


class ImageFolderData(ImageDataBase, SplitFiles):
    format: Literal["image_folder"]


def read_image_folder(root: str | Path, channels=None, size=None) -> ImageSet:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected one sub-folder of images per class)")
    paths, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in list_images(class_dir):
            paths.append(path)
            labels.append(class_dir.name)
    if not paths:
        raise DataError(f"{root}: no images found (expected {root}/<class>/<image>.png)")
    arrays = [load_image(p, channels, size) for p in paths]
    return ImageSet(stack_images(arrays, paths), labels, str(root), [str(p) for p in paths])


@register_reader("image_folder", ImageFolderData)
def read_folder_splits(cfg: ImageFolderData) -> dict[str, ImageSet]:
    return read_split_files(cfg, lambda path: read_image_folder(path, cfg.image.channels, cfg.image.size))
