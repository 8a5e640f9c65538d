"""Kim (2014), "Convolutional Neural Networks for Sentence Classification": parallel 1-D convolutions of
several widths over the embeddings, max over time (padding masked), concatenated. The fast baseline."""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.registry import register_encoder
from tixel.models.text_spec import tiny_text_example
from tixel.models.vectors import embedding_from_vectors


class TextCNNConfig(Section):
    type: Literal["text_cnn"]
    embedding_dim: int = Field(128, ge=1)
    widths: list[int] = Field([3, 4, 5], min_length=1, json_schema_extra={"synonyms": ["kernel_sizes"]})
    filters: int = Field(100, ge=1, json_schema_extra={"synonyms": ["channels", "num_filters"]})
    dropout: float = Field(0.5, ge=0, lt=1)
    vectors: Optional[str] = None
    freeze_embeddings: bool = False


@register_encoder("text_cnn", TextCNNConfig)
class TextCNNEncoder(nn.Module):
    tiny_example = staticmethod(tiny_text_example)

    def __init__(self, cfg: TextCNNConfig, spec, pretrained: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, cfg.embedding_dim, padding_idx=spec.pad_id)
        self.coverage = None
        if cfg.vectors and pretrained:
            self.coverage = embedding_from_vectors(self.embedding, spec.vocab(), cfg.vectors)
        self.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embedding_dim, cfg.filters, w) for w in cfg.widths)
        self.dropout = nn.Dropout(cfg.dropout)
        self.max_width = max(cfg.widths)
        self.output_dim = cfg.filters * len(cfg.widths)

    def forward(self, batch: dict) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"].to(batch["input_ids"].device)
        if ids.shape[1] < self.max_width:  # a text shorter than the widest filter still gets a window
            ids = nn.functional.pad(ids, (0, self.max_width - ids.shape[1]), value=self.embedding.padding_idx)
        x = self.embedding(ids).transpose(1, 2)
        pooled = []
        for conv in self.convs:
            feats = torch.relu(conv(x))
            # only windows inside the text count (a text shorter than the filter keeps its first window),
            # so a text's features do not depend on how much padding its batch has
            last_start = (lengths - conv.kernel_size[0]).clamp_min(0)
            valid = torch.arange(feats.shape[2], device=ids.device)[None, :] <= last_start[:, None]
            pooled.append(feats.masked_fill(~valid[:, None, :], 0.0).max(2).values)
        return self.dropout(torch.cat(pooled, 1))
