"""A tagger: encoder -> one vector per word (a word's first sub-token) -> head -> tag scores, optionally
through a CRF. Its input is the tagging preprocessing's windows (see tixel/data/tag_preprocess.py)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from tixel.core.errors import ConfigError
from tixel.models import create_encoder, initialize
from tixel.models.crf import CRF, greedy_decode
from tixel.models.heads import ClassificationHead


class Tagger(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module, crf: CRF | None, tags: list[str]):
        super().__init__()
        self.encoder, self.head, self.crf = encoder, head, crf
        self.tags = list(tags)  # the names of the tag ids it predicts

    def forward(self, batch: dict, targets: Optional[torch.Tensor] = None):
        """(B, W, tags) emission scores, one row per word; with `targets` (tag ids, -100 where no word),
        (emissions, loss)."""
        seq = self.encoder.sequence(batch)
        index = batch["word_index"].unsqueeze(-1).expand(-1, -1, seq.shape[-1])
        emissions = self.head(seq.gather(1, index))
        return emissions if targets is None else (emissions, self.loss(emissions, targets))

    def loss(self, emissions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.crf is not None:
            return self.crf.nll(emissions, targets, targets != -100)
        return nn.functional.cross_entropy(emissions.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)

    def decode(self, emissions: torch.Tensor, word_lengths: torch.Tensor) -> list[list[int]]:
        mask = torch.arange(emissions.shape[1], device=emissions.device)[None, :] < word_lengths[:, None]
        return self.crf.decode(emissions, mask) if self.crf is not None else greedy_decode(emissions, mask)


def build_tagger(model_cfg, spec, tags: list[str], pretrained: bool = True) -> Tagger:
    encoder = create_encoder(model_cfg.encoder, spec, pretrained)
    if not hasattr(encoder, "sequence"):
        raise ConfigError(f"model.encoder.type: {model_cfg.encoder.type!r} gives no per-token output; "
                          "a tagger needs rnn or transformer")
    model = Tagger(encoder, ClassificationHead(encoder.output_dim, len(tags), model_cfg.head),
                   CRF(tags) if model_cfg.head.crf else None, tags)
    initialize(model, model_cfg.init)
    return model
