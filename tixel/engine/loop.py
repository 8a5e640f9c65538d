"""The training loop, as a generator of events (spaCy's design): it owns validation, patience and
checkpoints; whoever iterates it only displays progress."""
from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

from tixel.core.device import to_device
from tixel.core.io import (
    load_checkpoint,
    save_checkpoint,
    save_weights,
    write_text,
)
from tixel.engine import distributed as ddp
from tixel.engine.finetune import unfreeze_for_epoch
from tixel.engine.optim import base_lr
from tixel.tasks.protocol import StepOutput, Task


@dataclass
class Step:
    epoch: int
    step: int
    loss: torch.Tensor  # left on the device: whoever shows it reads it (a host sync) only when it draws


@dataclass
class EpochEnd:
    epoch: int
    metrics: dict
    improved: bool


class Interrupted(Exception):
    """Raised after Ctrl-C, once `last.pt` holds the exact state to resume from."""


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # batches done within the current epoch
    global_step: int = 0
    best: Optional[float] = None
    best_epoch: Optional[int] = None
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    loss_sum: float = 0.0  # a float64 tensor on the device while an epoch runs, a float in checkpoints
    metric_sums: dict = field(default_factory=dict)  # StepOutput.metrics summed over the epoch, the same way
    seen: int = 0
    train_time: float = 0.0
    epoch_rng: Optional[torch.Tensor] = None  # shuffle-generator state when this epoch began

    def next_epoch(self) -> None:
        self.epoch, self.step = self.epoch + 1, 0
        self.loss_sum, self.metric_sums, self.seen, self.train_time = 0.0, {}, 0, 0.0


@dataclass
class TrainJob:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train: Any  # batches: .epoch(generator, start), len(), num_samples
    evaluate: Callable[[torch.nn.Module], dict]  # validation metrics, unprefixed
    task: Task  # its transform and training_step turn a batch into a StepOutput
    cfg: Any  # the `train` section
    run_dir: Path
    device: torch.device = torch.device("cpu")
    seed: int = 0
    state: TrainState = field(default_factory=TrainState)
    stop_requested: bool = False
    world: ddp.World = ddp.SINGLE
    forward_model: Optional[torch.nn.Module] = None  # what the train step calls: the model, or DDP around it
    keep_best: bool = True  # write checkpoints/best.safetensors when the monitored metric improves

    def __post_init__(self):
        self.generator = torch.Generator().manual_seed(self.seed)  # the same on every process: same batches
        self.forward_model = self.forward_model or self.model
        self.ema = None
        if self.cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            # buffers too: batch-norm statistics must match the averaged weights they normalise for
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.cfg.ema), use_buffers=True)

    @property
    def weights(self) -> torch.nn.Module:
        """The model that is validated and kept: the moving average of the weights when `train.ema` is set."""
        return self.model if self.ema is None else self.ema.module

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"


LOWER_IS_BETTER = ("loss", "mae", "rmse", "mse", "perplexity")  # every other logged metric rises as it improves


def mode_of(cfg) -> str:
    if cfg.mode != "auto":
        return cfg.mode
    return "min" if any(name in cfg.monitor for name in LOWER_IS_BETTER) else "max"


def fit(job: TrainJob) -> Iterator[Step | EpochEnd]:
    with _catch_sigint(job):
        while job.state.epoch < job.cfg.epochs:
            yield from train_epoch(job)
            event = end_epoch(job)
            yield event
            if _patience_exhausted(job):
                break


def train_epoch(job: TrainJob) -> Iterator[Step]:
    state, model = job.state, job.model
    if state.step == 0:
        state.epoch_rng = job.generator.get_state()
    job.generator.set_state(state.epoch_rng)  # replays this epoch's shuffle on resume
    model.train()
    if job.cfg.finetune.mode == "frozen":  # a probe reads fixed features: no dropout, no batch-norm updates
        model.encoder.eval()
    if job.cfg.finetune.gradual_unfreeze:
        unfreeze_for_epoch(model, state.epoch)
    started, accumulate = time.perf_counter(), job.cfg.accumulate
    for batch, last in _mark_last(job.train.epoch(job.generator, start=state.step)):
        boundary = last or (state.step + 1) % accumulate == 0  # the optimizer steps after this batch
        out = train_step(job, batch, boundary)
        state.step += 1
        state.global_step += 1
        _accumulate(state, out)
        yield Step(state.epoch, state.step, out.loss)
        if boundary and _stop_agreed(job):
            state.train_time += time.perf_counter() - started
            save_last(job)
            raise Interrupted(str(job.run_dir))
    state.train_time += time.perf_counter() - started


def _mark_last(items: Iterator) -> Iterator[tuple[Any, bool]]:
    """(item, is_last): the last batch of an epoch must step the optimizer, whatever the accumulation."""
    items = iter(items)
    try:
        current = next(items)
    except StopIteration:
        return
    for following in items:
        yield current, False
        current = following
    yield current, True


def _stop_agreed(job: TrainJob) -> bool:
    """Ctrl-C reaches processes at different moments: all stop once any asks, at the same step."""
    return ddp.sum_all(job.world, float(job.stop_requested))[0] > 0 if job.world.active else job.stop_requested


def train_step(job: TrainJob, batch: tuple, boundary: bool = True) -> StepOutput:
    """The task's transform and training step on one batch, and the backward pass; the optimizer steps
    at accumulation boundaries. Nothing here waits for the device: the loss stays a tensor."""
    batch = job.task.transform(to_device(batch, job.device))
    sync = contextlib.nullcontext() if boundary or not job.world.active else job.forward_model.no_sync()
    with sync:
        with torch.autocast(job.device.type, dtype=torch.bfloat16, enabled=job.cfg.precision == "bf16"):
            out = job.task.training_step(job.forward_model, batch)
        total = ddp.sum_all(job.world, out.count)[0] if job.world.active else out.count
        # this process's share of the global batch, so DDP's average over processes is the batch mean
        (out.loss * (out.count * job.world.size / total) / job.cfg.accumulate).backward()
    if boundary:
        optimizer_step(job, job.state.step % job.cfg.accumulate + 1)
    return out


def _accumulate(state: TrainState, out: StepOutput) -> None:
    """Epoch sums kept as float64 tensors where the loss lives, so no step waits for the device."""
    state.loss_sum = state.loss_sum + out.loss.detach().double() * out.count
    for name, value in out.metrics.items():
        state.metric_sums[name] = state.metric_sums.get(name, 0.0) + value.detach().double()
    state.seen += out.count


def optimizer_step(job: TrainJob, accumulated: int) -> None:
    """`accumulated` batches added their gradients; an epoch's last group can hold fewer than
    `train.accumulate`, and is rescaled to the mean over the batches it has."""
    if accumulated < job.cfg.accumulate:
        for p in job.model.parameters():
            if p.grad is not None:
                p.grad.mul_(job.cfg.accumulate / accumulated)
    if job.cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(job.model.parameters(), job.cfg.grad_clip)
    job.optimizer.step()
    job.scheduler.step()
    job.optimizer.zero_grad(set_to_none=True)
    if job.ema is not None:
        job.ema.update_parameters(job.model)


def end_epoch(job: TrainJob) -> EpochEnd:
    state, world = job.state, job.world
    names = list(job.task.train_metric_names)
    sums = [float(state.metric_sums.get(n, 0.0)) for n in names]  # the epoch's one host sync
    loss_sum, seen, *sums = ddp.sum_all(world, float(state.loss_sum), state.seen, *sums)  # over all processes
    metrics = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(1, seen)}
    metrics.update({f"train_{n}": value / max(1, seen) for n, value in zip(names, sums)})
    val = job.evaluate(job.weights) if world.main else None  # one process evaluates; all decide with its result
    metrics.update({f"val_{k}": v for k, v in ddp.broadcast(world, val).items()})
    metrics["lr"] = base_lr(job.optimizer)  # the rate of train.lr's group, whatever the layer decay
    metrics["samples_per_s"] = seen / max(state.train_time, 1e-9)
    metrics["epoch_time_s"] = state.train_time
    improved = _update_best(job, metrics)
    state.history.append(metrics)
    state.next_epoch()
    if world.main:
        write_metrics(job)
    save_last(job)
    return EpochEnd(state.epoch, metrics, improved)


def _update_best(job: TrainJob, metrics: dict) -> bool:
    state, cfg = job.state, job.cfg
    value = metrics[cfg.monitor]
    sign = -1.0 if mode_of(cfg) == "min" else 1.0
    improved = state.best is None or sign * (value - state.best) > cfg.min_delta
    if math.isnan(value):
        improved = False
    if improved:
        state.best, state.best_epoch, state.bad_epochs = value, metrics["epoch"], 0
        if job.world.main and job.keep_best:
            save_weights(job.weights, job.checkpoints / "best.safetensors")
    else:
        state.bad_epochs += 1
    return improved


def _patience_exhausted(job: TrainJob) -> bool:
    return job.cfg.patience is not None and job.state.bad_epochs >= job.cfg.patience


def write_metrics(job: TrainJob) -> None:
    import json

    lines = "".join(json.dumps(row) + "\n" for row in job.state.history)
    write_text(job.run_dir / "metrics.jsonl", lines)


# ---------------------------------------------------------------- exact resume


def save_last(job: TrainJob) -> None:
    """Rank 0 writes; every process's RNG state goes in, since each draws its own augmentations."""
    rngs = ddp.gather(job.world, torch.get_rng_state())
    if not job.world.main:
        return
    save_checkpoint({
        "model": job.model.state_dict(),
        "optimizer": job.optimizer.state_dict(),
        "scheduler": job.scheduler.state_dict(),
        "torch_rng": rngs[0],
        "torch_rng_ranks": rngs,
        "generator": job.generator.get_state(),
        "state": _plain_state(job.state),
        **({"ema": job.ema.state_dict()} if job.ema is not None else {}),
    }, job.checkpoints / "last.pt")


def _plain_state(state: TrainState) -> dict:
    """The state with its running sums as floats (a mid-epoch checkpoint holds them as device tensors)."""
    plain = asdict(state)
    plain["loss_sum"] = float(state.loss_sum)
    plain["metric_sums"] = {k: float(v) for k, v in state.metric_sums.items()}
    return plain


def restore(job: TrainJob, path: Path) -> None:
    ckpt = load_checkpoint(path)
    job.model.load_state_dict(ckpt["model"])
    job.optimizer.load_state_dict(ckpt["optimizer"])
    job.scheduler.load_state_dict(ckpt["scheduler"])
    rngs = ckpt.get("torch_rng_ranks", [ckpt["torch_rng"]])
    torch.set_rng_state(rngs[job.world.rank] if len(rngs) == job.world.size else ckpt["torch_rng"])
    job.generator.set_state(ckpt["generator"])
    known = TrainState.__dataclass_fields__
    job.state = TrainState(**{k: v for k, v in ckpt["state"].items() if k in known})
    if job.ema is not None:
        job.ema.load_state_dict(ckpt["ema"])


@contextlib.contextmanager
def _catch_sigint(job: TrainJob):
    """First Ctrl-C: finish the current step, checkpoint, stop. A second one stops at once."""
    def request_stop(signum, frame):
        job.stop_requested = True
        signal.signal(signal.SIGINT, previous)

    try:
        previous = signal.signal(signal.SIGINT, request_stop)
    except ValueError:  # not the main thread: no handler, the caller can still set stop_requested
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
