"""`train.finetune`: which parameters of a built model train, and at what learning rate.

- `full`: everything (the default).
- `frozen`: the encoder is frozen and only the head trains (a linear probe when the head has no hidden layers).
- `lora` / `ia3`: the `peft` library wraps the transformer backbone. Only the adapter trains there, and the
  task head outside the backbone trains in full and is saved with it. The head is not one of peft's
  `modules_to_save`, whose saving and loading have tripped users (peft#310, #2027). A bundle then keeps
  only the adapter and the head (`PEFT_FILE`), and the base weights come from the pretrained checkpoint
  when it loads. `tixel export --merge` folds the adapter in and writes a plain bundle.
- `layer_decay`: discriminative learning rates (ULMFiT, Howard & Ruder 2018). The head gets `train.lr`,
  transformer layer l of L gets lr * decay^(L - l), and the embeddings get lr * decay^(L + 1).
- `gradual_unfreeze` (ULMFiT again): epoch 1 trains the head only, and each later epoch unfreezes one more
  encoder layer group from the top (transformer layers, then embeddings; CNN blocks; RNN layers, then
  the embedding). It is a function of the epoch, so a resumed run unfreezes the same way.
"""
from __future__ import annotations

import re

import torch

from tixel.core.config import FinetuneConfig
from tixel.core.errors import ConfigError
from tixel.engine.optim import BASE, NO_DECAY

PEFT_MODES = ("lora", "ia3")


def apply_finetune(model: torch.nn.Module, cfg: FinetuneConfig) -> torch.nn.Module:
    """Freeze or wrap in place, before the optimizer sees the parameters."""
    if cfg.mode == "frozen":
        for p in model.encoder.parameters():
            p.requires_grad_(False)
    elif cfg.mode in PEFT_MODES:
        encoder = _transformer(model, cfg.mode)
        encoder.backbone = _wrap(encoder.backbone, cfg)
    return model


def _transformer(model, mode: str):
    encoder = getattr(model, "encoder", None)
    if not hasattr(encoder, "backbone"):
        raise ConfigError(f"train.finetune: {mode} needs model.encoder.type: transformer "
                          f"(this model's encoder is {type(encoder).__name__})")
    if mode in PEFT_MODES and encoder.pretrained is None:
        raise ConfigError(f"train.finetune.mode: {mode} adapts pretrained weights; set model.encoder.pretrained "
                          "(e.g. minilm-l6), or use mode: full for a transformer trained from scratch")
    return encoder


def _wrap(backbone, cfg: FinetuneConfig):
    from peft import IA3Config, LoraConfig, get_peft_model

    if cfg.mode == "lora":
        config = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                            target_modules=cfg.target_modules or ["query", "key", "value", "dense"])
    else:
        targets = cfg.target_modules or ["key", "value", "output.dense"]
        config = IA3Config(target_modules=targets, feedforward_modules=[t for t in targets if "output" in t])
    return get_peft_model(backbone, config)


def merge(model: torch.nn.Module) -> torch.nn.Module:
    """Fold the adapter into the base weights: a plain model that predicts the same."""
    encoder = model.encoder
    encoder.backbone = encoder.backbone.merge_and_unload()
    return model


def parameter_groups(model: torch.nn.Module, lr: float, cfg: FinetuneConfig) -> list[dict]:
    """The trainable parameters, grouped by learning rate and then by weight decay, the group at `lr` first.

    Each group carries its own "lr", so the optimiser needs no second, default rate, and a "name": "base"
    for the group at `lr` (the head's under layer_decay; `optim.base_lr` logs its rate), "layer_decay_<d>"
    for the group d layers below the head. Biases and normalisation weights (tensors of at most one
    dimension) go to a twin "<name>_no_decay" with weight_decay 0, as in nanoGPT and timm: decaying them
    only pulls a layer's offset and scale towards 0. Embedding tables are matrices and keep their decay;
    the other groups take train.optimizer.weight_decay from the optimiser.
    """
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    depth_of = _depth_function(model, cfg)
    by_depth: dict[int, list] = {}
    for name, p in trainable:
        by_depth.setdefault(depth_of(name), []).append(p)
    decay = 1.0 if cfg.layer_decay is None else cfg.layer_decay
    return [group for depth in sorted(by_depth)
            for group in _decay_split(by_depth[depth], lr * decay ** depth, _group_name(depth))]


def _depth_function(model: torch.nn.Module, cfg: FinetuneConfig):
    """name -> layers below the head: 0 for every parameter without layer_decay (one rate)."""
    if cfg.layer_decay is None:
        return lambda name: 0
    layers = _transformer(model, "layer_decay").backbone.config.num_hidden_layers
    return lambda name: _depth_from_top(name, layers)


def _group_name(depth: int) -> str:
    return BASE if depth == 0 else f"layer_decay_{depth}"


def _decay_split(params: list, lr: float, name: str) -> list[dict]:
    """The group `name` and its twin without weight decay (biases, norm weights); empty ones left out."""
    decayed = [p for p in params if p.ndim > 1]
    flat = [p for p in params if p.ndim <= 1]
    groups = [{"params": decayed, "lr": lr, "name": name}] if decayed else []
    if flat:
        groups.append({"params": flat, "lr": lr, "weight_decay": 0.0, "name": name + NO_DECAY})
    return groups


def _depth_from_top(name: str, layers: int) -> int:
    if not name.startswith("encoder.backbone"):
        return 0  # the head
    found = re.search(r"\.layer\.(\d+)\.", name)
    if found:
        return layers - int(found.group(1))
    return layers + 1 if "embeddings" in name else 0


def adapter_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What a PEFT bundle stores: the trained tensors (adapter and head) and the buffers, not the base."""
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n for n, _ in model.named_buffers()}
    return {k: v for k, v in model.state_dict().items() if k in trained or k in buffers}


def layer_groups(encoder: torch.nn.Module) -> list[torch.nn.Module]:
    """The encoder's layer groups from the top down, for gradual unfreezing."""
    backbone = getattr(encoder, "backbone", None)
    if backbone is not None:
        base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
        return [*reversed(list(base.encoder.layer)), base.embeddings]
    if hasattr(encoder, "blocks"):  # cnn
        return list(reversed(list(encoder.blocks)))
    if hasattr(encoder, "layers"):  # rnn
        return [*reversed(list(encoder.layers)), encoder.embedding]
    return [encoder]


def unfreeze_for_epoch(model: torch.nn.Module, epoch: int) -> int:
    """Before epoch `epoch` (0-based): the head and the top `epoch` groups train. Parameters of the encoder
    in no group (pooling, extra features) join the first group. Returns the groups trainable."""
    groups = layer_groups(model.encoder)
    grouped = {id(p) for g in groups for p in g.parameters()}
    for p in model.encoder.parameters():
        p.requires_grad_(epoch >= 1 and id(p) not in grouped)
    for group in groups[:epoch]:
        for p in group.parameters():
            p.requires_grad_(True)
    return min(epoch, len(groups))
