"""Text preprocessing fitted on the training split and saved in the bundle: cleaning settings, the
tokenizer, max_length, and (for a pretrained transformer) its architecture config."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional, Sequence

import torch

from tixel.data import tokenize
from tixel.data.preprocessors import register_preprocessor
from tixel.data.pretrained import KNOWN, resolve
from tixel.data.text import CleanConfig, clean


@register_preprocessor("text")
@dataclass
class TextPreprocessing:
    fitted_fields: ClassVar[tuple[str, ...]] = ("data.tokenizer", "data.clean")
    tokenizer: object  # tokenizers.Tokenizer
    clean: CleanConfig
    max_length: int
    hf_config: Optional[dict] = None

    @classmethod
    def fit(cls, texts: Sequence[str], data_cfg, encoder_cfg) -> "TextPreprocessing":
        tok_cfg = data_cfg.tokenizer
        pretrained = getattr(encoder_cfg, "pretrained", None)
        hf_config = None
        hugging_face = getattr(encoder_cfg, "type", None) == "transformer"
        if tok_cfg.kind == "pretrained" or (tok_cfg.kind == "auto" and pretrained):
            path = tok_cfg.path or pretrained
            # a tixel encoder folder (rnn) holds tokenizer.json itself; a transformer's is a HF checkpoint
            folder = resolve(path) if hugging_face or tok_cfg.path in KNOWN else Path(path).expanduser()
            tokenizer = tokenize.load_tokenizer(folder)
        else:
            tokenizer = tokenize.train_tokenizer([clean(t, data_cfg.clean) for t in texts], tok_cfg,
                                                 split_cjk=data_cfg.clean.segment is None)
        if pretrained and hugging_face:
            hf_config = json.loads((resolve(pretrained) / "config.json").read_text())
        return cls(tokenizer, data_cfg.clean, tok_cfg.max_length, hf_config)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def pad_id(self) -> int:
        return tokenize.pad_id(self.tokenizer)

    def vocab(self) -> dict[str, int]:
        return self.tokenizer.get_vocab()

    def apply(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return tokenize.encode(self.tokenizer, [clean(t, self.clean) for t in texts], self.max_length)

    def state(self, folder: Path) -> dict:
        return {"tokenizer": self.tokenizer.to_str(), "clean": self.clean.model_dump(), "max_length": self.max_length,
                "hf_config": self.hf_config}

    @classmethod
    def from_state(cls, state: dict, folder: Path) -> "TextPreprocessing":
        return cls(tokenize.tokenizer_from_str(state["tokenizer"]), CleanConfig(**state["clean"]),
                   state["max_length"], state.get("hf_config"))
