"""A BERT-style encoder: built from config (transformers' BertConfig) or loaded from a local Hugging Face
checkpoint (AutoModel, files on disk only), then pooled over the real tokens."""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import AliasChoices, Field, model_validator
from torch import nn

from tixel.core.config import Section
from tixel.core.log import quiet_transformers
from tixel.core.registry import register_encoder
from tixel.data.pretrained import resolve
from tixel.models.pooling import masked_pool
from tixel.models.text_spec import tiny_text_example


class TransformerConfig(Section):
    type: Literal["transformer"]
    pretrained: Optional[str] = Field(None, validation_alias=AliasChoices("pretrained", "from"),
                                      description="minilm-l6, or a local Hugging Face folder such as a "
                                                  "`tixel pretrain` run's RUN/encoder (also spelt `from`)")
    hidden_size: int = Field(256, ge=8, json_schema_extra={"synonyms": ["d_model", "dim"]})
    layers: int = Field(4, ge=1, json_schema_extra={"synonyms": ["num_layers", "num_hidden_layers"]})
    heads: int = Field(4, ge=1, json_schema_extra={"synonyms": ["num_heads", "num_attention_heads"]})
    intermediate_size: int = Field(1024, ge=8, json_schema_extra={"synonyms": ["ffn_dim", "dim_feedforward"]})
    dropout: float = Field(0.1, ge=0, lt=1)
    pooling: Literal["cls", "mean"] = "mean"

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.pretrained is None and self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of heads {self.heads}")
        return self


def scratch_config(cfg: TransformerConfig, spec):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=spec.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate_size,
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=max(64, spec.max_length), pad_token_id=spec.pad_id,
    )


def backbone(cfg: TransformerConfig, spec, pretrained: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    if cfg.pretrained is None:
        return AutoModel.from_config(scratch_config(cfg, spec), add_pooling_layer=False)
    if pretrained:
        # the checkpoint's pooler is dropped on purpose (tixel pools itself): its "unexpected keys" load
        # report is noise, so it is silenced for this one call
        with quiet_transformers():
            return AutoModel.from_pretrained(resolve(cfg.pretrained), local_files_only=True, add_pooling_layer=False)
    # loading a bundle: the architecture comes from the bundle, the weights from model.safetensors
    return AutoModel.from_config(AutoConfig.for_model(**spec.hf_config), add_pooling_layer=False)


@register_encoder("transformer", TransformerConfig)
class TransformerEncoder(nn.Module):
    tiny_example = staticmethod(tiny_text_example)

    def __init__(self, cfg: TransformerConfig, spec, pretrained: bool = True):
        super().__init__()
        self.pooling, self.pretrained = cfg.pooling, cfg.pretrained
        self.backbone = backbone(cfg, spec, pretrained)
        self.output_dim = self.backbone.config.hidden_size

    def sequence(self, batch: dict) -> torch.Tensor:
        """(B, T, hidden): one vector per token, for taggers."""
        return self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state

    def forward(self, batch: dict) -> torch.Tensor:
        mask = batch["attention_mask"]
        hidden = self.sequence(batch)
        return hidden[:, 0] if self.pooling == "cls" else masked_pool(hidden, mask, "mean")
