"""Language-model pretraining of the RNN encoder (`task: language_model`), as ELMo does it (Peters et al.
2018): the forward direction predicts each next token, and for a BiLSTM the backward direction predicts
each previous one, through one shared softmax. The result is `RUN/encoder/` with its tokenizer, which
`model.encoder.from: RUN/encoder` fine-tunes (ULMFiT's recipe, with `train.finetune.gradual_unfreeze`).

A stacked bidirectional RNN feeds both directions of layer 1 into each direction of layer 2, so the
forward stack would see the future; the objective therefore takes one bidirectional layer, or any
number of unidirectional ones."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from tixel.core.errors import ConfigError
from tixel.core.registry import register_task
from tixel.models import create_encoder
from tixel.tasks.pretrain.base import SelfSupervised
from tixel.tasks.pretrain.common import token_loss, token_metrics
from tixel.tasks.protocol import Split
from tixel.tasks.text_classification import TextClassification


class RNNLanguageModel(nn.Module):
    def __init__(self, encoder: nn.Module, vocab_size: int):
        super().__init__()
        self.encoder = encoder
        self.hidden = encoder.cfg.hidden_size
        self.softmax = nn.Linear(self.hidden, vocab_size)  # shared by both directions, as in ELMo

    def forward(self, batch: dict, targets: Optional[torch.Tensor] = None):
        """Logits (B, directions * (T - 1), vocab): position t of the forward direction predicts token
        t + 1, position t + 1 of the backward direction predicts token t (`next_tokens` lays the targets
        out the same way); with `targets`, (logits, mean cross-entropy)."""
        out = self.encoder.dropout(self.encoder.run(batch)[0])
        logits = [self.softmax(out[:, :-1, : self.hidden])]
        if out.shape[-1] > self.hidden:
            logits.append(self.softmax(out[:, 1:, self.hidden:]))
        logits = torch.cat(logits, 1)
        return logits if targets is None else (logits, token_loss(logits, targets))


def next_tokens(batch: dict, bidirectional: bool) -> torch.Tensor:
    """The language model's targets, (B, directions * (T - 1)): the next token for each position of the
    forward direction, then the previous one for each position of the backward direction; -100 on padding.
    As nanoGPT's shifted `y`, they come from the inputs themselves."""
    ids, lengths = batch["input_ids"], batch["lengths"].to(batch["input_ids"].device)
    real = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
    targets = ids.masked_fill(~real, -100)
    parts = [targets[:, 1:]]
    if bidirectional:
        parts.append(targets[:, :-1].masked_fill(~real[:, 1:], -100))
    return torch.cat(parts, 1)


@register_task("language_model")
class LanguageModelTask(SelfSupervised, TextClassification):
    name = "language_model"
    metric_names = ("loss", "accuracy", "perplexity")

    def configure(self, cfg):
        enc = cfg.model.encoder
        if enc.type != "rnn":
            raise ConfigError("task language_model: model.encoder.type must be rnn (masked_lm pretrains transformers)")
        if enc.bidirectional and enc.layers > 1:
            raise ConfigError("task language_model: a bidirectional encoder needs layers: 1 (a stacked one lets "
                              "the forward direction see the future through layer 1's backward states)")
        self.encoder_cfg = enc
        self.bucket = bool(getattr(cfg.data, "bucket", True))
        return self

    def build_model(self, cfg, labels, pre, pretrained: bool = True, train=None) -> RNNLanguageModel:
        return RNNLanguageModel(create_encoder(cfg.model.encoder, pre, pretrained), pre.vocab_size)

    def transform(self, batch: tuple) -> tuple:
        x = batch[0]
        return x, next_tokens(x, self.encoder_cfg.bidirectional)

    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        return token_metrics(model, self.batches(split, batch_size, shuffle=False), device, self.transform)

    def summary(self, m: dict, split: str) -> str:
        return (f"language model on the {split} split: loss {m['loss']:.4f}, next-token accuracy "
                f"{m['accuracy']:.4f}, perplexity {m['perplexity']:.2f}")
