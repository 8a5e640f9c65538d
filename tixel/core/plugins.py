"""The built-in pieces. Adding an encoder, reader or task adds one line here."""
import importlib

BUILTINS = (
    "tixel.data.digits",
    "tixel.data.idx",
    "tixel.data.image_folder",
    "tixel.data.image_csv",
    "tixel.data.tabular",
    "tixel.data.text_folder",
    "tixel.data.conll",
    "tixel.data.unlabelled",
    "tixel.models.cnn",
    "tixel.models.rnn",
    "tixel.models.text_cnn",
    "tixel.models.transformer",
    "tixel.tasks.image_classification",
    "tixel.tasks.text_classification",
    "tixel.tasks.ner",
    "tixel.tasks.zero_shot",
    "tixel.tasks.few_shot",
    "tixel.tasks.pretrain.mlm",
    "tixel.tasks.pretrain.simclr",
    "tixel.tasks.pretrain.masked_image",
    "tixel.tasks.pretrain.rnn_lm",
    "tixel.engine.optim",
    "tixel.commands.tune.space",
)

_loaded = False


def load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTINS:
            importlib.import_module(module)
