"""Masked-language-model pretraining of the transformer encoder (`task: masked_lm`).

Masking is transformers' own `DataCollatorForLanguageModeling.torch_mask_tokens`: 15 % of the tokens
are chosen, and of those 80 % become [MASK], 10 % a random token, and 10 % stay as they are. With
`whole_word_mask` every piece of a chosen word is masked together. It draws from torch's global RNG,
which the trainer's checkpoints save, so a resumed run masks exactly as an uninterrupted one. The
masking is the task's batch `transform`: it gives the model the masked ids and the labels to predict.
The MLM head is transformers' `BertOnlyMLMHead`. The result is a Hugging Face folder, `RUN/encoder/`
(config.json, model.safetensors, tokenizer.json). `model.encoder.pretrained: RUN/encoder` fine-tunes it,
and `model.encoder.pretrained: RUN/encoder` with `task: masked_lm` continues pretraining on new text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from tixel.core.config import Section
from tixel.core.errors import ConfigError
from tixel.core.io import load_weights, save_weights
from tixel.core.log import quiet_transformers
from tixel.core.registry import register, register_task
from tixel.data.pretrained import resolve
from tixel.models import create_encoder
from tixel.tasks.pretrain.base import SelfSupervised
from tixel.tasks.pretrain.common import token_loss, token_metrics
from tixel.tasks.protocol import Prepared, Split
from tixel.tasks.text_classification import TextClassification

HEAD_FILE = "mlm_head.safetensors"  # beside the HF files of RUN/encoder; fine-tuning ignores it


class PretrainConfig(Section):
    mask_probability: float = Field(0.15, gt=0, lt=1)
    whole_word_mask: bool = Field(False, description="mask every word piece of a chosen word together")


register("section", "pretrain", PretrainConfig)(PretrainConfig)


class MaskedLM(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        from transformers.models.bert.modeling_bert import BertOnlyMLMHead

        self.encoder = encoder
        self.head = BertOnlyMLMHead(encoder.backbone.config)

    def forward(self, batch: dict, labels: Optional[torch.Tensor] = None):
        """Token logits at every position; with `labels` (-100 where nothing is predicted), the logits of
        the masked positions only (in row-major order) and their mean cross-entropy.

        Only the masked positions go through the head, as fairseq and Megatron do; HF's BertForMaskedLM
        scores every position. For a small encoder the head's hidden x vocab projection costs more than
        the encoder, and only ~15 % of its outputs count towards the loss."""
        hidden = self.encoder.sequence(batch)
        if labels is None:
            return self.head(hidden)
        picked = labels != -100
        logits = self.head(hidden[picked])
        return logits, token_loss(logits, labels[picked])


class Masker:
    """A batch's inputs -> (the inputs with masked input_ids, the labels: original ids, -100 where unmasked)."""

    def __init__(self, pre, cfg: PretrainConfig):
        from transformers import (
            DataCollatorForLanguageModeling,
            PreTrainedTokenizerFast,
        )

        tok = PreTrainedTokenizerFast(tokenizer_object=pre.tokenizer, pad_token="[PAD]", mask_token="[MASK]",
                                      unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")
        if tok.mask_token_id is None or tok.mask_token_id == tok.unk_token_id:
            raise ConfigError("task masked_lm: the tokenizer has no [MASK] token")
        self.tokenizer = tok
        self.collator = DataCollatorForLanguageModeling(tok, mlm_probability=cfg.mask_probability,
                                                        whole_word_mask=cfg.whole_word_mask)
        self.special = torch.tensor(sorted(set(tok.all_special_ids)))

    def __call__(self, batch: dict) -> tuple[dict, torch.Tensor]:
        ids = batch["input_ids"]
        special = torch.isin(ids, self.special.to(ids.device)) | (batch["attention_mask"] == 0)
        offsets = self.offsets(ids) if self.collator.whole_word_mask else None
        masked, labels = self.collator.torch_mask_tokens(ids.clone(), special.long(), offsets)
        return {**batch, "input_ids": masked}, labels

    def offsets(self, ids: torch.Tensor):
        """Character offsets of each token, which the whole-word masking reads word boundaries from."""
        import numpy as np

        rows = []
        for row in ids.tolist():
            text = self.tokenizer.decode(row, skip_special_tokens=False)
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            mapping = enc["offset_mapping"][: len(row)]
            rows.append(mapping + [(0, 0)] * (len(row) - len(mapping)))
        return np.array(rows)


@register_task("masked_lm")
class MaskedLMTask(SelfSupervised, TextClassification):
    name = "masked_lm"
    metric_names = ("loss", "accuracy", "perplexity")

    def configure(self, cfg):
        if cfg.model.encoder.type != "transformer":
            raise ConfigError("task masked_lm: model.encoder.type must be transformer")
        self.options = cfg.pretrain or PretrainConfig()
        self.bucket = bool(getattr(cfg.data, "bucket", True))
        self.masker = None
        return self

    def prepare(self, cfg, labels=None, pre=None) -> Prepared:
        prepared = super().prepare(cfg, labels, pre)
        self.masker = Masker(prepared.preprocessing, self.options)  # the masking makes the labels, per batch
        return prepared

    def build_model(self, cfg, labels, pre, pretrained: bool = True, train=None) -> MaskedLM:
        """Continued pretraining from a folder this task wrote keeps its MLM head, so it starts where the
        first run stopped instead of relearning the vocabulary projection (other HF folders start a new one)."""
        model = MaskedLM(create_encoder(cfg.model.encoder, pre, pretrained))
        source = cfg.model.encoder.pretrained
        if pretrained and source and (resolve(source) / HEAD_FILE).is_file():
            load_weights(model.head, resolve(source) / HEAD_FILE)
        return model

    def transform(self, batch: tuple) -> tuple:
        """Mask the batch (the labels are the masked tokens), from torch's RNG."""
        return self.masker(batch[0])

    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        """Masked-token loss and accuracy on a fixed masking of the split (the same every epoch)."""
        with torch.random.fork_rng(devices=[]):  # the training RNG stream is left as it was
            torch.manual_seed(0)
            return token_metrics(model, self.batches(split, batch_size, shuffle=False), device, self.transform)

    def summary(self, m: dict, split: str) -> str:
        return (f"masked-LM on the {split} split: loss {m['loss']:.4f}, masked-token accuracy "
                f"{m['accuracy']:.4f}, perplexity {m['perplexity']:.2f}")

    def save_artifacts(self, model: MaskedLM, pre, run_dir: Path) -> Path:
        """The encoder as a Hugging Face folder, what fine-tuning loads with `pretrained: RUN/encoder`."""
        folder = run_dir / "encoder"
        with quiet_transformers():
            model.encoder.backbone.save_pretrained(folder)
        pre.tokenizer.save(str(folder / "tokenizer.json"))
        save_weights(model.head, folder / HEAD_FILE)
        return folder

