"""Embedding -> LSTM or GRU -> pooling, with padding that never reaches the result.

Padding sits after each sequence's end, so a forward-direction RNN's outputs at real positions are exact
over the padded batch. The backward direction runs forward over each row reversed within its own length,
then is reversed back. This gives the same result as packed sequences, but it runs oneDNN's fused RNN
kernel; packed input falls back to one matrix product per time step, about 3x slower on CPU."""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import AliasChoices, Field, model_validator
from torch import nn

from tixel.core.config import Section
from tixel.core.registry import register_encoder
from tixel.models.chars import CASING_KINDS, CharCNN, CharFeaturesConfig, word_features
from tixel.models.pooling import AttentionPool, masked_pool
from tixel.models.saved_encoder import fill_from_folder, load_into
from tixel.models.text_spec import tiny_text_example
from tixel.models.vectors import embedding_from_vectors


class RNNConfig(Section):
    type: Literal["rnn"]
    pretrained: Optional[str] = Field(None, validation_alias=AliasChoices("pretrained", "from"),
                                      description="an encoder folder written by `tixel pretrain` (task "
                                                  "language_model), with its tokenizer (also spelt `from`)")
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = Field(128, ge=1, json_schema_extra={"synonyms": ["embed_dim", "emb_dim"]})
    hidden_size: int = Field(128, ge=1, json_schema_extra={"synonyms": ["units", "hidden"]})
    layers: int = Field(1, ge=1, json_schema_extra={"synonyms": ["num_layers"]})
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0, lt=1, description="on the embeddings and between layers")
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    vectors: Optional[str] = Field(None, description="glove-6b-50d, or a word2vec/GloVe text file")
    freeze_embeddings: bool = False
    char_features: Optional[CharFeaturesConfig] = Field(None, description="tagging: a character CNN per word")
    casing: bool = Field(False, description="tagging: a casing embedding per word (lower, Title, UPPER, ...)")

    @model_validator(mode="after")
    def _architecture_of_pretrained(self):
        return fill_from_folder(self, ARCHITECTURE)


ARCHITECTURE = ("cell", "embedding_dim", "hidden_size", "layers", "bidirectional")


@register_encoder("rnn", RNNConfig)
class RNNEncoder(nn.Module):
    def __init__(self, cfg: RNNConfig, spec, pretrained: bool = True):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(spec.vocab_size, cfg.embedding_dim, padding_idx=spec.pad_id)
        self.coverage = None
        if cfg.vectors and pretrained:
            self.coverage = embedding_from_vectors(self.embedding, spec.vocab(), cfg.vectors)
        self.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        self.chars = CharCNN(cfg.char_features) if cfg.char_features else None
        self.casing = nn.Embedding(CASING_KINDS, 8) if cfg.casing else None
        in_dim = cfg.embedding_dim + (self.chars.output_dim if self.chars else 0) + (8 if cfg.casing else 0)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        directions = 2 if cfg.bidirectional else 1
        self.layers = nn.ModuleList(
            nn.ModuleList(rnn(in_dim if i == 0 else cfg.hidden_size * directions, cfg.hidden_size, batch_first=True)
                          for _ in range(directions))
            for i in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.attention = AttentionPool(self.output_dim) if cfg.pooling == "attention" else None
        if cfg.pretrained and pretrained:  # after the vectors: the pretrained embedding replaces them
            load_into(self, cfg, ARCHITECTURE, partial=True)  # attention pooling may be new

    def sequence(self, batch: dict) -> torch.Tensor:
        """(B, T, output_dim): one vector per token (zeros past each length), for taggers."""
        out, _ = self.run(batch)
        return self.dropout(out)

    def run(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-position outputs, zero past each length; last-layer final state per direction)."""
        ids, lengths = batch["input_ids"], batch["lengths"].to(batch["input_ids"].device)
        x = self.embedding(ids)
        extra = word_features(batch, self.chars, self.casing, ids.shape[1])
        x = self.dropout(torch.cat([x, *extra], -1) if extra else x)
        reverse = reversal_index(lengths, ids.shape[1])
        for i, layer in enumerate(self.layers):
            if i:
                x = self.dropout(x)
            forward = layer[0](x)[0]
            outs = [forward] + [flip(rnn(flip(x, reverse))[0], reverse) for rnn in layer[1:]]
            x = torch.cat(outs, -1)
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        x = x * mask.unsqueeze(-1)
        last = forward[torch.arange(len(ids), device=ids.device), lengths - 1]
        final = torch.cat([last] + [o[:, 0] for o in outs[1:]], -1)  # a backward pass ends at position 0
        return x, final

    def forward(self, batch: dict) -> torch.Tensor:
        out, final = self.run(batch)
        if self.cfg.pooling == "last":
            return final
        ids, lengths = batch["input_ids"], batch["lengths"]
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        if self.attention is not None:
            return self.attention(out, mask)
        return masked_pool(out, mask, self.cfg.pooling)

    tiny_example = staticmethod(tiny_text_example)


def reversal_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, T) positions: row b reversed within its first lengths[b] positions, padding left in place."""
    t = torch.arange(width, device=lengths.device)[None, :]
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


def flip(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
