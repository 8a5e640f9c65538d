"""A CSV of image paths and labels (`path,label` with a header); paths relative to the CSV's folder."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal, Optional

from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.images import ImageDataBase, ImageSet, load_image, stack_images
from tixel.data.splits import SplitFiles, read_split_files


class ImageCsvData(ImageDataBase, SplitFiles):
    format: Literal["image_csv"]
    root: Optional[str] = None
    path_column: str = "path"
    label_column: str = "label"


def _rows(path: Path, cfg: ImageCsvData) -> list[tuple[int, str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {cfg.path_column, cfg.label_column} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}, line 1: header {reader.fieldnames} lacks column(s) {sorted(missing)}")
        rows = []
        for record in reader:
            line = reader.line_num
            if None in record or None in record.values():
                raise DataError(f"{path}, line {line}: expected {len(reader.fieldnames)} columns")
            image, label = record[cfg.path_column].strip(), record[cfg.label_column].strip()
            if not image or not label:
                raise DataError(f"{path}, line {line}: empty {'path' if not image else 'label'}")
            rows.append((line, image, label))
    return rows


def read_image_csv(path: str | Path, cfg: ImageCsvData) -> ImageSet:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows = _rows(path, cfg)
    if not rows:
        raise DataError(f"{path}: no rows after the header")
    root = Path(cfg.root) if cfg.root else path.parent
    arrays = []
    for line, image, _ in rows:
        try:
            arrays.append(load_image(root / image, cfg.image.channels, cfg.image.size))
        except DataError as err:
            raise DataError(f"{path}, line {line}: {err}") from None
    where = [f"{path}, line {line}" for line, _, _ in rows]
    return ImageSet(stack_images(arrays, where), [r[2] for r in rows], str(path), [r[0] for r in rows])


@register_reader("image_csv", ImageCsvData)
def read_csv_splits(cfg: ImageCsvData) -> dict[str, ImageSet]:
    return read_split_files(cfg, lambda path: read_image_csv(path, cfg))
