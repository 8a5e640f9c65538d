"""Optimisers and schedules by name; no weight decay on biases and norm weights; the logged lr is the
rate of train.lr's group; each group's lr is given once and kept."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tixel.core import registry
from tixel.core.config import FinetuneConfig, TrainConfig, validate
from tixel.core.errors import ConfigError
from tixel.engine.finetune import parameter_groups
from tixel.engine.optim import base_lr, create_optimizer, create_scheduler, lr_factor


class Mixed(nn.Module):
    """One of each: a matrix, a bias, layer and batch norm weights, an embedding table."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.linear = nn.Linear(4, 4)
        self.layer_norm = nn.LayerNorm(4)
        self.batch_norm = nn.BatchNorm1d(4)


NO_DECAY = {"linear.bias", "layer_norm.weight", "layer_norm.bias", "batch_norm.weight", "batch_norm.bias"}
DECAY = {"linear.weight", "embed.weight"}


def names_by_group(model, groups) -> dict[str, set[str]]:
    named = {id(p): n for n, p in model.named_parameters()}
    return {g["name"]: {named[id(p)] for p in g["params"]} for g in groups}


def adamw(groups, lr=0.1, weight_decay=0.1):
    return create_optimizer(groups, TrainConfig(lr=lr, optimizer={"name": "adamw", "weight_decay": weight_decay}))


# ---------------------------------------------------------------- weight decay


def test_biases_and_norm_weights_are_not_decayed_matrices_and_embeddings_are():
    model = Mixed()
    groups = parameter_groups(model, 1e-3, FinetuneConfig())
    assert names_by_group(model, groups) == {"base": DECAY, "base_no_decay": NO_DECAY}
    opt = adamw(groups, weight_decay=0.1)
    decay = {g["name"]: g["weight_decay"] for g in opt.param_groups}
    assert decay == {"base": 0.1, "base_no_decay": 0.0}


def test_adamw_step_with_zero_gradients_shrinks_matrices_only():
    torch.manual_seed(0)
    model = Mixed()
    with torch.no_grad():  # norm weights start at 1 and biases at 0; any decay of them must show
        for p in model.parameters():
            p.uniform_(0.5, 1.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = adamw(parameter_groups(model, 0.1, FinetuneConfig()), lr=0.1, weight_decay=0.1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    after = dict(model.named_parameters())
    for name in NO_DECAY:
        assert torch.equal(after[name].detach(), before[name]), name
    for name in DECAY:  # decoupled decay: p * (1 - lr * weight_decay), Adam's own step is 0 for 0 gradients
        torch.testing.assert_close(after[name].detach(), before[name] * (1 - 0.1 * 0.1))


# ---------------------------------------------------------------- lr given once, base_lr under layer_decay


def test_each_group_keeps_its_own_lr_and_plain_parameters_train_at_train_lr():
    model = nn.Linear(3, 2)
    opt = create_optimizer([{"params": [model.weight], "lr": 0.5, "name": "base"},
                            {"params": [model.bias], "lr": 0.25}], TrainConfig(lr=1e-3))
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.25]
    plain = create_optimizer(model.parameters(), TrainConfig(lr=0.01))
    assert [(g["name"], g["lr"]) for g in plain.param_groups] == [("base", 0.01)]


def small_transformer(layers: int = 2) -> nn.Module:
    """The project's transformer encoder from scratch (a BERT) under a linear head, as tasks build it."""
    from tixel.models.transformer import TransformerConfig, TransformerEncoder

    cfg = TransformerConfig(type="transformer", hidden_size=16, layers=layers, heads=2, intermediate_size=32)
    spec = SimpleNamespace(vocab_size=50, max_length=16, pad_id=0)
    model = nn.Module()
    model.encoder = TransformerEncoder(cfg, spec)
    model.head = nn.Linear(16, 3)
    return model


def test_base_lr_is_train_lr_under_layer_decay_and_the_groups_keep_their_ratios():
    model = small_transformer(layers=2)
    groups = parameter_groups(model, 1e-3, FinetuneConfig(layer_decay=0.5))
    by_name = names_by_group(model, groups)
    assert set(by_name) == {"base", "base_no_decay", "layer_decay_1", "layer_decay_1_no_decay",
                            "layer_decay_2", "layer_decay_2_no_decay", "layer_decay_3", "layer_decay_3_no_decay"}
    assert by_name["base"] == {"head.weight"} and by_name["base_no_decay"] == {"head.bias"}
    assert all(".layer.1." in n for n in by_name["layer_decay_1"] | by_name["layer_decay_1_no_decay"])
    assert any("word_embeddings" in n for n in by_name["layer_decay_3"])  # embeddings: decayed, lowest rate
    assert sum(len(ns) for ns in by_name.values()) == len(list(model.parameters()))

    train = TrainConfig(lr=1e-3, epochs=2, optimizer={"name": "adamw"},
                        schedule={"name": "cosine", "warmup_epochs": 0.5, "min_lr_ratio": 0.1})
    opt = create_optimizer(sorted(groups, key=lambda g: g["lr"]), train)  # lowest rate first, as groups once were
    scheduler = create_scheduler(opt, 10, train)
    assert base_lr(opt) == pytest.approx(1e-3 * lr_factor(0, 10, train))
    assert opt.param_groups[0]["lr"] == pytest.approx(base_lr(opt) * 0.5 ** 3)  # the embeddings', not logged
    ratios = {g["name"]: 0.5 ** int(g["name"].split("_")[2]) if g["name"].startswith("layer") else 1.0
              for g in opt.param_groups}
    for step in range(1, 20):
        opt.step()
        scheduler.step()
        assert base_lr(opt) == pytest.approx(1e-3 * lr_factor(step, 10, train))
        for g in opt.param_groups:
            assert g["lr"] == pytest.approx(base_lr(opt) * ratios[g["name"]])


def test_base_lr_without_names_is_the_first_group():
    a, b = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.3}, {"params": [b], "lr": 0.1}])
    assert base_lr(opt) == 0.3


# ---------------------------------------------------------------- schedules


def reference(name: str, step: int, steps_per_epoch: int, train: TrainConfig) -> float:
    """The schedules written out once more: linear warm-up over warmup_epochs, then the named curve."""
    s = train.schedule
    warmup = int(s.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if name == "constant":
        return 1.0
    if name == "step":
        return s.gamma ** (step // (s.step_epochs * steps_per_epoch))
    progress = min(1.0, (step - warmup) / max(1, train.epochs * steps_per_epoch - warmup))
    return s.min_lr_ratio + (1 - s.min_lr_ratio) * (1 + math.cos(math.pi * progress)) / 2


SCHEDULES = ("constant", "step", "cosine")


def test_every_registered_schedule_has_a_reference():
    assert set(registry.entries("schedule")) == set(SCHEDULES)
    assert {"adam", "adamw", "sgd"} <= set(registry.entries("optimizer"))


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("warmup", [0, 1.5])
def test_schedule_factors_match_the_reference(name, warmup):
    train = TrainConfig(lr=0.2, epochs=5, schedule={"name": name, "warmup_epochs": warmup, "step_epochs": 2,
                                                    "gamma": 0.5, "min_lr_ratio": 0.1})
    steps_per_epoch = 4
    opt = create_optimizer([nn.Parameter(torch.zeros(2, 2))], train)
    scheduler = create_scheduler(opt, steps_per_epoch, train)
    for step in range(train.epochs * steps_per_epoch + 3):  # a few past the end: cosine stays at its floor
        expected = reference(name, step, steps_per_epoch, train)
        assert lr_factor(step, steps_per_epoch, train) == pytest.approx(expected, abs=1e-12)
        assert base_lr(opt) == pytest.approx(0.2 * expected, abs=1e-12)
        opt.step()
        scheduler.step()


# ---------------------------------------------------------------- names in a config


@pytest.mark.parametrize("field, value, known", [
    ("optimizer", "adamx", "adam, adamw, sgd"),
    ("schedule", "cosin", "constant, cosine, step"),
])
def test_unknown_name_is_a_config_error_at_its_field(tiny_raw, field, value, known):
    tiny_raw["train"][field] = {"name": value}
    with pytest.raises(ConfigError) as info:
        validate(tiny_raw, "exp.yaml")
    message = str(info.value)
    assert f"train.{field}.name" in message and f"known: {known}" in message and repr(value) in message


def test_registered_names_validate():
    assert TrainConfig(optimizer={"name": "sgd"}, schedule={"name": "cosine"}).optimizer.name == "sgd"
