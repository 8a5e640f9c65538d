"""Tokenisation with the `tokenizers` library: a vocabulary trained on the training split (WordPiece,
BPE or word level), or a pretrained tokenizer.json from a local Hugging Face folder. Saved in the bundle."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from tixel.core.errors import ConfigError

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: Sequence[str], cfg, split_cjk: bool = True):
    """cfg: TokenizerConfig. CJK characters become one token each, as in BERT, so Chinese needs no segmenter;
    `split_cjk=False` keeps the words of texts a segmenter already split with spaces."""
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    kind = "wordpiece" if cfg.kind == "auto" else cfg.kind
    model, trainer = {
        "wordpiece": (models.WordPiece(unk_token="[UNK]"), trainers.WordPieceTrainer),
        "bpe": (models.BPE(unk_token="[UNK]"), trainers.BpeTrainer),
        "word": (models.WordLevel(unk_token="[UNK]"), trainers.WordLevelTrainer),
    }[kind]
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=split_cjk,
                                                strip_accents=None, lowercase=cfg.lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                           special_tokens=SPECIALS, show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def load_tokenizer(folder: str | Path):
    """A Hugging Face folder's tokenizer.json, or the tokenizer in a tixel folder's preprocessing.json
    (a pretrained RNN encoder's folder)."""
    path = Path(folder) / "tokenizer.json"
    if path.is_file():
        return tokenizer_from_str(path.read_text(encoding="utf-8"))
    saved = Path(folder) / "preprocessing.json"
    state = json.loads(saved.read_text(encoding="utf-8")).get("state", {}) if saved.is_file() else {}
    if "tokenizer" not in state:
        raise ConfigError(f"{folder}: no tokenizer.json (a fast Hugging Face tokenizer file is needed)")
    return tokenizer_from_str(state["tokenizer"])


def tokenizer_from_str(text: str):
    """A `tokenizers` Tokenizer from its JSON text, with padding and truncation off (tixel pads per batch)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(text)
    tok.no_padding()
    tok.no_truncation()
    return tok


def pad_id(tok) -> int:
    for token in ("[PAD]", "<pad>", "<PAD>"):
        if tok.token_to_id(token) is not None:
            return tok.token_to_id(token)
    return 0


def encode(tok, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Token ids padded to the longest text (capped at max_length), and true lengths.
    Texts longer than max_length are truncated, keeping the final [SEP]."""
    tok.enable_truncation(max_length)
    encodings = tok.encode_batch(list(texts))
    lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
    width = max(1, int(lengths.max(initial=1)))
    ids = np.full((len(encodings), width), pad_id(tok), dtype=np.int64)
    for row, e in zip(ids, encodings):
        row[: len(e.ids)] = e.ids
    ids_t, lengths_t = torch.from_numpy(ids), torch.from_numpy(lengths).clamp_min(1)
    mask = torch.arange(width)[None, :] < lengths_t[:, None]
    return {"input_ids": ids_t, "attention_mask": mask.long(), "lengths": lengths_t}
