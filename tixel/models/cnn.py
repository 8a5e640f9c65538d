"""A configurable 2-D CNN encoder: conv blocks, then flatten or global pooling."""
from __future__ import annotations

from typing import Literal, Optional, Union

import torch
from pydantic import AliasChoices, Field, model_validator
from torch import nn

from tixel.core.config import Section
from tixel.core.errors import ConfigError
from tixel.core.registry import register_encoder
from tixel.models.layers import ACTIVATIONS, MONOTONE, activation
from tixel.models.saved_encoder import fill_from_folder, load_into


class ConvBlock(Section):
    channels: int = Field(ge=1, json_schema_extra={"synonyms": ["filters", "out_channels"]})
    kernel: int = Field(3, ge=1, json_schema_extra={"synonyms": ["kernel_size"]})
    stride: int = Field(1, ge=1)
    padding: Union[int, Literal["same"]] = Field(0, description="pixels, or 'same'")
    convs: int = Field(1, ge=1, description="convolutions in the block before its pooling")
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: int = Field(2, ge=1)
    batch_norm: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    activation: Literal[tuple(ACTIVATIONS)] = "relu"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _same_needs_stride_one(self):
        if self.padding == "same" and self.stride != 1:
            raise ValueError("padding 'same' needs stride 1 (PyTorch has no strided 'same' convolution)")
        return self


class CNNConfig(Section):
    type: Literal["cnn"]
    pretrained: Optional[str] = Field(None, validation_alias=AliasChoices("pretrained", "from"),
                                      description="an encoder folder written by `tixel pretrain` (task simclr); "
                                                  "its blocks are used unless given here (also spelt `from`)")
    blocks: list[ConvBlock] = Field(default_factory=lambda: [ConvBlock(channels=32)], min_length=1)
    global_pool: Literal["flatten", "avg", "max"] = "flatten"

    @model_validator(mode="after")
    def _architecture_of_pretrained(self):
        return fill_from_folder(self, ARCHITECTURE)


ARCHITECTURE = ("blocks", "global_pool")


def conv_block(in_ch: int, cfg: ConvBlock) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(cfg.convs):
        layers.append(nn.Conv2d(in_ch if i == 0 else cfg.channels, cfg.channels, cfg.kernel,
                                cfg.stride, cfg.padding, bias=not cfg.batch_norm))
        if cfg.batch_norm:
            layers.append(nn.BatchNorm2d(cfg.channels))
        layers.append(activation(cfg.activation))
    if cfg.pool == "max" and cfg.activation in MONOTONE:
        layers.insert(len(layers) - 1, nn.MaxPool2d(cfg.pool_size))  # same output, 1/pool_size² the work
    elif cfg.pool != "none":
        layers.append(nn.MaxPool2d(cfg.pool_size) if cfg.pool == "max" else nn.AvgPool2d(cfg.pool_size))
    if cfg.dropout:
        layers.append(nn.Dropout(cfg.dropout))
    return nn.Sequential(*layers)


@register_encoder("cnn", CNNConfig)
class CNNEncoder(nn.Module):
    @staticmethod
    def tiny_example(batch: int):
        """(input spec, input batch) for the test that sweeps every registered encoder."""
        return (1, 12, 12), torch.randn(batch, 1, 12, 12)

    def __init__(self, cfg: CNNConfig, input_shape: tuple[int, int, int], pretrained: bool = True):
        super().__init__()
        blocks, channels = [], input_shape[0]
        for block in cfg.blocks:
            blocks.append(conv_block(channels, block))
            channels = block.channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = {"flatten": nn.Flatten(), "avg": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                     "max": nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())}[cfg.global_pool]
        self.output_dim = self._probe_dim(input_shape)
        if cfg.pretrained and pretrained:
            load_into(self, cfg, ARCHITECTURE)

    def _probe_dim(self, input_shape) -> int:
        was_training = self.training
        self.eval()  # batch norm cannot take a batch of one in training mode
        try:
            with torch.no_grad():
                return self.forward(torch.zeros(1, *input_shape)).shape[1]
        except RuntimeError as err:
            raise ConfigError(f"model.encoder.blocks: too much downsampling for a {input_shape} input ({err})")
        finally:
            self.train(was_training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(x))
