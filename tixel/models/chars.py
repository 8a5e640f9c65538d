"""Word features a lower-cased word vocabulary misses: a character CNN (Ma & Hovy 2016; Chiu & Nichols
2016) and a casing embedding. Used by taggers, whose preprocessing provides `chars` and `casing`."""
from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.errors import ConfigError

CHAR_VOCAB = 2002  # the tagging preprocessing keeps 2,000 characters, plus pad and unknown
CASING_KINDS = 6


class CharFeaturesConfig(Section):
    dim: int = Field(30, ge=1, description="character embedding size")
    filters: int = Field(50, ge=1, description="output features per word")
    width: int = Field(3, ge=1, description="convolution width in characters")


class CharCNN(nn.Module):
    def __init__(self, cfg: CharFeaturesConfig):
        super().__init__()
        self.embedding = nn.Embedding(CHAR_VOCAB, cfg.dim, padding_idx=0)
        self.conv = nn.Conv1d(cfg.dim, cfg.filters, cfg.width, padding=cfg.width // 2)
        self.output_dim = cfg.filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """(B, W, C) character ids -> (B, W, filters), max over each word's real characters."""
        b, w, c = chars.shape
        x = self.embedding(chars.reshape(b * w, c)).transpose(1, 2)
        h = self.conv(x).masked_fill((chars.reshape(b * w, 1, c) == 0), torch.finfo(x.dtype).min)
        return h.max(-1).values.clamp_min(-1e4).reshape(b, w, -1)


def word_features(batch: dict, chars: nn.Module | None, casing: nn.Module | None, width: int) -> list:
    """The extra per-word features present in `batch`, cut to the `width` the word ids have."""
    out = []
    for module, key in ((chars, "chars"), (casing, "casing")):
        if module is None:
            continue
        if key not in batch:
            raise ConfigError(f"model.encoder: {key} features need a tagging task (task: ner)")
        out.append(module(batch[key][:, :width]))
    return out
