"""The built-in pieces. Adding an encoder, reader, preprocessor or task adds one line here.

They are imported by name when the registry is first read, so the lowest layer (core) never imports the
layers above it; a module that fails to import leaves the registry as it was, and the next read tries
again."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Optional

from tixel.core.errors import TixelError

BUILTINS = (
    "tixel.data.digits",
    "tixel.data.idx",
    "tixel.data.image_folder",
    "tixel.data.image_csv",
    "tixel.data.tabular",
    "tixel.data.text_folder",
    "tixel.data.conll",
    "tixel.data.unlabelled",
    "tixel.data.preprocess",
    "tixel.data.text_preprocess",
    "tixel.data.tag_preprocess",
    "tixel.models.cnn",
    "tixel.models.rnn",
    "tixel.models.text_cnn",
    "tixel.models.transformer",
    "tixel.tasks.image_classification",
    "tixel.tasks.text_classification",
    "tixel.tasks.ner",
    "tixel.tasks.zero_shot",
    "tixel.tasks.few_shot",
    "tixel.tasks.regression",
    "tixel.tasks.pretrain.mlm",
    "tixel.tasks.pretrain.simclr",
    "tixel.tasks.pretrain.masked_image",
    "tixel.tasks.pretrain.rnn_lm",
    "tixel.engine.optim",
    "tixel.commands.tune.space",
)

_state = "unloaded"  # -> "loading" (a module being imported reads the registry) -> "loaded"


def load_builtins(snapshot: Callable[[], Any], restore: Callable[[Any], None],
                  modules: Optional[tuple[str, ...]] = None) -> None:
    """Import the built-in modules once. If one fails, what the others registered is rolled back
    (`restore(snapshot())`) and the tixel modules this attempt imported are forgotten, so that the next
    read imports, and registers, them again."""
    global _state
    if _state != "unloaded":
        return
    before, known = snapshot(), set(sys.modules)
    _state = "loading"
    try:
        for module in modules or BUILTINS:
            _import(module)
    except BaseException:
        restore(before)
        for name in set(sys.modules) - known:
            if name.startswith("tixel."):
                del sys.modules[name]
        _state = "unloaded"
        raise
    _state = "loaded"


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise TixelError(f"built-in piece {module} could not be imported ({err}); the registry is unchanged") from err
