"""Train / validation / test: explicit files where given, else seeded stratified fractions of train."""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np

from tixel.core.config import Section
from tixel.core.errors import DataError

SPLITS = ("train", "validation", "test")


class SplitFiles(Section):
    """A reader's files per split; the missing ones are carved out of train by `data.split`."""
    train: str
    validation: Optional[str] = None
    test: Optional[str] = None


def retarget(data_cfg, schema: type, fmt: str, path: str):
    """A run's data settings (columns, quoting, cleaning, scheme) re-targeted at one other file, read
    with `schema`: what `tixel evaluate --data FILE` reads that file with."""
    base = {k: v for k, v in data_cfg.model_dump().items() if k in schema.model_fields}
    base.update(format=fmt, train=path, validation=None, test=None)
    return schema.model_validate(base)


def read_split_files(cfg: SplitFiles, read) -> dict:
    """{split: read(path)} for the splits that name a file."""
    return {name: read(getattr(cfg, name)) for name in SPLITS if getattr(cfg, name) is not None}


class Splittable(Protocol):
    labels: list | None
    source: str

    def __len__(self) -> int: ...
    def subset(self, index: np.ndarray): ...


def carve(data: Splittable, fraction: float, seed: int, stratify: bool, name: str):
    """Split `fraction` of `data` off as split `name`; returns (rest, carved)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(data))
    try:
        keep, take = train_test_split(
            index, test_size=fraction, random_state=seed,
            stratify=getattr(data, "stratify_labels", data.labels) if stratify else None,  # none for multi-label
        )
    except ValueError as err:
        raise DataError(
            f"{data.source}: cannot carve a {fraction:.0%} {name} split from {len(data)} examples "
            f"({err}); give data.{name} as a file or set data.split.stratify: false"
        ) from None
    return data.subset(np.sort(keep)), data.subset(np.sort(take))


def make_splits(raw: dict, split_cfg) -> dict:
    """Fill in the missing splits from train, test first so the validation fraction is of what is left."""
    if "train" not in raw:
        raise DataError("data: no train split given")
    splits = dict(raw)
    for name in ("test", "validation"):
        fraction = getattr(split_cfg, name)
        if name not in splits and fraction > 0:
            splits["train"], splits[name] = carve(splits["train"], fraction, split_cfg.seed, split_cfg.stratify, name)
    limit = getattr(split_cfg, "train_limit", None)
    if limit and len(splits["train"]) > limit:
        fraction = limit / len(splits["train"])
        splits["train"] = carve(splits["train"], fraction, split_cfg.seed, split_cfg.stratify, "train")[1]
    for name, data in splits.items():
        if len(data) == 0:
            raise DataError(f"{data.source}: the {name} split is empty")
    return splits
