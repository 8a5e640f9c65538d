import copy
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY = {
    "task": "image_classification",
    "seed": 0,
    "data": {
        "format": "digits",
        "n_class": 4,
        "split": {"validation": 0.15, "test": 0.2, "seed": 0},
        "augment": {"translate": 0.1, "rotate": 5},
    },
    "model": {
        "encoder": {"type": "cnn", "blocks": [{"channels": 4, "padding": 1, "batch_norm": True}]},
        "head": {"hidden": [16], "dropout": 0.2},
    },
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.003, "monitor": "val_accuracy"},
}


@pytest.fixture
def tiny_raw(tmp_path):
    """A tiny, fast experiment on 4 classes of the bundled digits, writing under tmp_path."""
    raw = copy.deepcopy(TINY)
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": "tiny"}
    return raw


@pytest.fixture
def tiny_cfg(tiny_raw):
    from tixel.config import validate

    return validate(tiny_raw)
