"""Encoder folders written by `tixel pretrain` for encoders that are not Hugging Face models (cnn, rnn):
encoder.json (the encoder's config), encoder.safetensors, and the preprocessing (image statistics, or the
tokenizer). A config that names the folder (`model.encoder.from`) takes the architecture from it unless
it spells the fields out, and the saved config spells them out, so a bundle never needs the folder."""
from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from tixel.core.config import to_dict
from tixel.core.errors import ConfigError
from tixel.core.io import load_weights, save_weights, write_text
from tixel.data import preprocessors


def read_spec(folder: str, kind: str) -> dict:
    path = Path(folder).expanduser() / "encoder.json"
    if not path.is_file():
        task = {"cnn": "simclr or masked_image", "rnn": "language_model"}.get(kind, "...")
        raise ValueError(f"no pretrained {kind} encoder at {folder} (no encoder.json; `tixel pretrain` with "
                         f"task: {task} writes one)")
    spec = json.loads(path.read_text())
    if spec.get("type") != kind:
        raise ValueError(f"{path}: an encoder of type {spec.get('type')!r}, not {kind}")
    return spec


def fill_from_folder(cfg, keys: tuple[str, ...]):
    """The architecture fields the config leaves out, read from its pretrained folder (a model_validator)."""
    if cfg.pretrained and not set(keys) <= cfg.model_fields_set:
        spec = read_spec(cfg.pretrained, cfg.type)
        for key in keys:
            if key not in cfg.model_fields_set:
                value = type(cfg).model_validate({"type": cfg.type, key: spec[key]}).__dict__[key]
                setattr(cfg, key, value)
    return cfg


def load_into(module: nn.Module, cfg, keys: tuple[str, ...], partial: bool = False) -> None:
    """The folder's weights into `module`, once its architecture is checked field by field."""
    spec, mine = read_spec(cfg.pretrained, cfg.type), cfg.model_dump(mode="json")
    for key in keys:
        if spec[key] != mine[key]:
            raise ConfigError(f"model.encoder.{key}: differs from the pretrained encoder's in "
                              f"{cfg.pretrained}/encoder.json ({spec[key]}); leave it out to use the folder's")
    load_weights(module, Path(cfg.pretrained).expanduser() / "encoder.safetensors", partial=partial)


def save_encoder(encoder: nn.Module, encoder_cfg, pre, folder: Path) -> Path:
    spec = {k: v for k, v in to_dict(encoder_cfg).items() if k != "pretrained"}
    save_weights(encoder, folder / "encoder.safetensors")
    write_text(folder / "encoder.json", json.dumps(spec, indent=2))
    preprocessors.save(pre, folder)
    return folder
