"""Embedding -> LSTM or GRU -> pooling. Sequences are packed, so padding never reaches the result."""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tixel.config import Section
from tixel.models.pooling import AttentionPool, masked_pool
from tixel.models.text_spec import tiny_text_example
from tixel.registry import register_encoder


class RNNConfig(Section):
    type: Literal["rnn"]
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = Field(128, ge=1, json_schema_extra={"synonyms": ["embed_dim", "emb_dim"]})
    hidden_size: int = Field(128, ge=1, json_schema_extra={"synonyms": ["units", "hidden"]})
    layers: int = Field(1, ge=1, json_schema_extra={"synonyms": ["num_layers"]})
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0, lt=1, description="on the embeddings and between layers")
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    vectors: Optional[str] = Field(None, description="glove-6b-50d, or a word2vec/GloVe text file")
    freeze_embeddings: bool = False


@register_encoder("rnn", RNNConfig)
class RNNEncoder(nn.Module):
    def __init__(self, cfg: RNNConfig, spec, pretrained: bool = True):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(spec.vocab_size, cfg.embedding_dim, padding_idx=spec.pad_id)
        self.coverage = None
        if cfg.vectors and pretrained:
            from tixel.models.vectors import embedding_from_vectors

            self.coverage = embedding_from_vectors(self.embedding, spec.vocab(), cfg.vectors)
        self.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.embedding_dim, cfg.hidden_size, cfg.layers, batch_first=True,
                       bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.attention = AttentionPool(self.output_dim) if cfg.pooling == "attention" else None

    def forward(self, batch: dict) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        x = self.dropout(self.embedding(ids))
        if bool((lengths == ids.shape[1]).all()):
            # no padding in this batch (common with length buckets): the unpacked call runs oneDNN's
            # fused RNN kernel on CPU, which packed input cannot use
            out, hidden = self.rnn(x)
        else:
            out, hidden = self.rnn(pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False))
        if self.cfg.pooling == "last":
            h = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
            directions = 2 if self.cfg.bidirectional else 1
            return torch.cat(list(h[-directions:]), dim=-1)  # the last layer's final state per direction
        if not isinstance(out, torch.Tensor):
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        if self.attention is not None:
            return self.attention(out, mask)
        return masked_pool(out, mask, self.cfg.pooling)

    tiny_example = staticmethod(tiny_text_example)
