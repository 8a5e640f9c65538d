import copy
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tiny import TINY  # noqa: E402  (the tiny experiment, importable by test modules)


@pytest.fixture
def tiny_raw(tmp_path):
    """A tiny, fast experiment on 4 classes of the bundled digits, writing under tmp_path."""
    raw = copy.deepcopy(TINY)
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": "tiny"}
    return raw


@pytest.fixture
def tiny_cfg(tiny_raw):
    from tixel.core.config import validate

    return validate(tiny_raw)

