"""Optimisers and per-step learning-rate schedules from the `train` section, registered by name.

`train.optimizer.name` and `train.schedule.name` pick a registered entry (`tixel.core.registry` kinds
"optimizer" and "schedule"), so a new one is a decorated function here or in a plugin, not another branch.

The learning rate is given once. Every parameter group carries its own "lr" (`finetune.parameter_groups`
gives each rate its group), and an optimiser factory never sees `train.lr`: a second, default rate could
only disagree with the groups'. `weight_decay` is the optimiser's default, which the groups that must not
decay (biases, normalisation weights) override with 0.

The group that trains at `train.lr` is named "base" (and "base_no_decay"); `base_lr` reads its current rate,
the one metrics.jsonl logs. Under layer_decay the other groups train at lower rates, and LambdaLR scales each
group from its own initial rate, so the ratios between groups hold through warm-up and decay.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from tixel.core.registry import get, register

BASE = "base"  # the name of the group at train.lr
NO_DECAY = "_no_decay"  # the suffix of its twin without weight decay

# fused kernels: one pass over all parameters per step instead of a loop of small ops (~10% at batch 32)
FUSED = {"fused": True}


# ---------------------------------------------------------------- optimisers: (groups, train.optimizer)


@register("optimizer", "adam")
def adam(groups: list[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **FUSED)


@register("optimizer", "adamw")
def adamw(groups: list[dict], cfg) -> torch.optim.Optimizer:
    """Decoupled weight decay (Loshchilov & Hutter): the decay does not pass through Adam's scaling."""
    return torch.optim.AdamW(groups, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **FUSED)


@register("optimizer", "sgd")
def sgd(groups: list[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=cfg.weight_decay, **FUSED)


def create_optimizer(groups: Iterable, cfg) -> torch.optim.Optimizer:
    """The optimiser `cfg.optimizer.name` (cfg: the `train` section) over `groups`: parameter groups (dicts),
    or plain parameters, which become one group named "base" at train.lr."""
    return get("optimizer", cfg.optimizer.name).obj(as_groups(groups, cfg.lr), cfg.optimizer)


def as_groups(params: Iterable, lr: float) -> list[dict]:
    """Parameter groups that each carry an lr: plain parameters (`model.parameters()`, as benchmarks pass)
    become one "base" group at `lr`, and a group without its own rate trains at `lr`. Copies, so the
    caller's dicts are not changed."""
    params = list(params)
    if not params or not isinstance(params[0], dict):
        return [{"params": params, "lr": lr, "name": BASE}]
    return [{"lr": lr, **group} for group in params]


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """The current rate of the group at train.lr, the one to log: under layer_decay the head's, not
    whichever rate happens to be group 0 (the embeddings' lowest, when groups were sorted by rate).
    The first group when none is named (an optimiser built elsewhere)."""
    groups = optimizer.param_groups
    base = next((g for g in groups if str(g.get("name", "")).removesuffix(NO_DECAY) == BASE), groups[0])
    return base["lr"]


# ---------------------------------------------------------------- schedules: (step, steps_per_epoch, train)
# A schedule is the multiplier of each group's initial lr at an optimizer step after the warm-up; the
# linear warm-up in `lr_factor` is the same for all of them.


@register("schedule", "constant")
def constant(step: int, steps_per_epoch: int, cfg) -> float:
    return 1.0


@register("schedule", "step")
def step_decay(step: int, steps_per_epoch: int, cfg) -> float:
    """Times gamma every step_epochs epochs, counted from step 0 (the warm-up included)."""
    return cfg.schedule.gamma ** (step // (cfg.schedule.step_epochs * steps_per_epoch))


@register("schedule", "cosine")
def cosine(step: int, steps_per_epoch: int, cfg) -> float:
    """Half a cosine from 1 after the warm-up to min_lr_ratio at the last step of the last epoch."""
    warmup = warmup_steps(steps_per_epoch, cfg)
    total = max(1, cfg.epochs * steps_per_epoch - warmup)
    progress = min(1.0, (step - warmup) / total)
    low = cfg.schedule.min_lr_ratio
    return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_steps(steps_per_epoch: int, cfg) -> int:
    return int(cfg.schedule.warmup_epochs * steps_per_epoch)


def schedule_of(steps_per_epoch: int, cfg) -> Callable[[int], float]:
    """step -> multiplier of the initial lr: a linear warm-up, then the schedule `cfg.schedule.name`.
    The name is looked up here, once, so an unknown one fails before the first step."""
    schedule = get("schedule", cfg.schedule.name).obj
    warmup = warmup_steps(steps_per_epoch, cfg)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return schedule(step, steps_per_epoch, cfg)

    return factor


def lr_factor(step: int, steps_per_epoch: int, cfg) -> float:
    """Multiplier of the initial lr at optimizer step `step`: linear warm-up, then the schedule."""
    return schedule_of(steps_per_epoch, cfg)(step)


def create_scheduler(optimizer, steps_per_epoch: int, cfg) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_of(steps_per_epoch, cfg))
