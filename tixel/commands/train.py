"""`tixel train`: config -> task -> data -> model -> loop -> bundle -> test report."""
from __future__ import annotations

import difflib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import yaml

from tixel.commands.evaluate import evaluate_split, report_split
from tixel.core.config import Experiment, differences, to_dict, validate
from tixel.core.device import denormals_flushed, resolve_device
from tixel.core.errors import ConfigError, TixelError
from tixel.core.io import load_weights, write_text
from tixel.core.log import RUN_LOG
from tixel.data import preprocessors
from tixel.data.labels import LabelSet
from tixel.engine import distributed as ddp
from tixel.engine import loop
from tixel.engine.bundle import Bundle, save_bundle
from tixel.engine.finetune import apply_finetune, parameter_groups
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.engine.progress import show
from tixel.engine.stages import remove_stages, stage_runner
from tixel.models import count_parameters
from tixel.tasks import create_task
from tixel.tasks.protocol import Prepared, Task


@dataclass
class RunResult:
    run_dir: Path
    bundle_dir: Path
    report_dir: Path
    history: list
    test_metrics: dict
    trained: Optional[Bundle] = None  # the model in memory, as it was saved (rank 0 only under torchrun)


def run_dir_for(cfg: Experiment, config_path: Optional[str]) -> Path:
    stem = Path(config_path).stem if config_path else cfg.task
    name = cfg.output.name or f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = Path(cfg.output.dir) / name
    if path.exists() and any(path.iterdir()):
        if not cfg.output.overwrite:
            raise TixelError(f"{path} already exists: resume it with --resume {path}, or set output.overwrite: true")
        if not (path / "config.yaml").exists():
            raise TixelError(f"{path} is not a tixel run folder; refusing to overwrite it")
        shutil.rmtree(path)  # stale checkpoints of an earlier run must not leak into this one
    return path


def check_resume_config(cfg: Experiment, run_dir: Path) -> None:
    """A resumed run must be the same experiment; only the number of epochs may grow."""
    if not (run_dir / "config.yaml").is_file():
        raise TixelError(f"--resume {run_dir}: not a run folder (no config.yaml)")
    saved = to_dict(validate(yaml.safe_load((run_dir / "config.yaml").read_text()), str(run_dir / "config.yaml")))
    now = to_dict(cfg)
    for d in (saved, now):
        d["train"].pop("epochs")
        d.pop("output")
    diffs = sorted(differences(saved, now))
    if diffs:
        raise ConfigError(f"--resume {run_dir}: the config differs from the run's in {', '.join(diffs)}")


def has_validation(cfg: Experiment) -> bool:
    return getattr(cfg.data, "validation", None) is not None or cfg.data.split.validation > 0


def check_monitor(cfg: Experiment, task: Task) -> None:
    logged = ["train_loss"] + [f"train_{m}" for m in task.train_metric_names]
    if has_validation(cfg):
        logged += [f"val_{m}" for m in task.metric_names]
    if cfg.train.monitor not in logged:
        close = difflib.get_close_matches(cfg.train.monitor, logged, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"train.monitor: {cfg.train.monitor!r} is not a logged metric{hint} (logged: {logged})")


def make_job(cfg: Experiment, task: Task, prepared: Prepared, model: torch.nn.Module, run_dir: Path, device: torch.device,
             world: ddp.World = ddp.SINGLE) -> loop.TrainJob:
    train = task.batches(prepared.splits["train"], cfg.train.batch_size, shuffle=True).shard(world.rank, world.size)
    steps_per_epoch = -(-len(train) // cfg.train.accumulate)  # optimizer steps, which the schedule counts
    val = prepared.splits.get("validation")

    def evaluate(m):  # without a validation split only train_* metrics are logged
        return task.validate(m, val, cfg.train.eval_batch_size, device) if val is not None else {}

    optimizer = create_optimizer(parameter_groups(model, cfg.train.lr, cfg.train.finetune), cfg.train)
    return loop.TrainJob(
        model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, steps_per_epoch, cfg.train),
        train=train, evaluate=evaluate, task=task, cfg=cfg.train, run_dir=run_dir, device=device, seed=cfg.seed,
        world=world, forward_model=ddp.wrap(model, world, device, cfg.train.finetune.gradual_unfreeze),
    )


def train(cfg: Experiment, config_path: Optional[str] = None, resume: Optional[str] = None, progress: bool = True,
          on_event: Optional[Callable] = None, log: Callable = RUN_LOG.info) -> RunResult:
    task = create_task(cfg.task, cfg)
    if task.capabilities.trains == "gradient":
        check_monitor(cfg, task)
    world = ddp.from_env(cfg.train.device)
    try:
        with denormals_flushed(cfg.train.flush_denormals):
            return _train(cfg, task, world, config_path, resume, progress and world.main, on_event,
                          log if world.main else (lambda *_: None))
    finally:
        ddp.close(world)


def _train(cfg: Experiment, task: Task, world: ddp.World, config_path: Optional[str], resume: Optional[str],
           progress: bool, on_event: Optional[Callable], log: Callable) -> RunResult:
    run_dir = Path(resume) if resume else None
    if world.main:
        run_dir = run_dir or run_dir_for(cfg, config_path)
        if resume:
            check_resume_config(cfg, run_dir)
    run_dir = Path(ddp.broadcast(world, str(run_dir) if run_dir else None))  # a timestamped name differs per process
    torch.manual_seed(cfg.seed)
    device = ddp.device_for(world, resolve_device(cfg.train.device))
    if task.capabilities.trains == "fit":  # zero- and few-shot fit without the training loop
        if world.active:
            raise ConfigError(f"task {cfg.task} fits without the training loop; run it in one process, not torchrun")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        prepared, model = task.fit(cfg, run_dir, log, stage_runner(cfg.train, run_dir, device, progress, log, on_event))
        result = finish(cfg, task, prepared, model.to(device), run_dir, loop.TrainState(), device, log)
        remove_stages(run_dir)  # the bundle holds what they trained
        return result
    prepared = _prepare_everywhere(task, cfg, run_dir, bool(resume), world)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing, train=prepared.splits["train"])
    model = apply_finetune(model, cfg.train.finetune).to(device)
    job = make_job(cfg, task, prepared, model, run_dir, device, world)
    if world.active:  # DDP has copied rank 0's weights to all; now each process its own dropout and augmentations
        torch.manual_seed(cfg.seed + 1_000_003 * world.rank)
    if resume and (run_dir / "checkpoints" / "last.pt").is_file():
        loop.restore(job, run_dir / "checkpoints" / "last.pt")
        log(f"resuming {run_dir} at epoch {job.state.epoch + 1}, step {job.state.step}")
    elif resume:  # stopped before its first checkpoint: nothing trained yet, so start it over in place
        log(f"{run_dir} has no checkpoint yet (it stopped during its first epoch): starting it from the beginning")
    if world.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    _log_start(log, cfg, model, prepared, job, run_dir)
    events = loop.fit(job)
    for event in _progress(events, job, cfg, progress, log):
        if on_event:
            on_event(job, event)
    ddp.barrier(world)
    if not world.main:
        return RunResult(run_dir, run_dir / "bundle", run_dir / "report", job.state.history, {})
    return finish(cfg, task, prepared, job.model, job.run_dir, job.state, job.device, log)


def _prepare_everywhere(task: Task, cfg: Experiment, run_dir: Path, resume: bool, world: ddp.World) -> Prepared:
    """Rank 0 fits labels and preprocessing; the others read what it saved, so all hold the same tokenizer."""
    prepared = prepare_run(task, cfg, run_dir, resume) if world.main else None
    ddp.barrier(world)
    return prepared if world.main else prepare_run(task, cfg, run_dir, True)


def prepare_run(task: Task, cfg: Experiment, run_dir: Path, resume: bool) -> Prepared:
    """Labels and preprocessing fitted on train and kept in RUN/preprocessing; a resumed run reads them
    back instead of fitting again, since a refit can differ (the `tokenizers` WordPiece trainer breaks ties
    between equally frequent merges in hash order, so two fits of one corpus can give other tokens)."""
    import json


    saved = run_dir / "preprocessing"
    if resume and (saved / "labels.json").is_file():
        labels = LabelSet(json.loads((saved / "labels.json").read_text(encoding="utf-8")))
        return task.prepare(cfg, labels, preprocessors.load(saved))
    prepared = task.prepare(cfg)
    saved.mkdir(parents=True, exist_ok=True)
    preprocessors.save(prepared.preprocessing, saved)
    write_text(saved / "labels.json", json.dumps(prepared.labels.names, ensure_ascii=False))
    return prepared


def _log_start(log, cfg, model, prepared, job, run_dir):
    trainable, total = count_parameters(model)
    sizes = ", ".join(f"{name} {len(s):,}" for name, s in prepared.splits.items())
    world, accumulate = job.world, cfg.train.accumulate
    split = f" = {world.size} processes x {cfg.train.batch_size // world.size}" if world.active else ""
    log(f"run {run_dir}: {cfg.task}, {len(prepared.labels)} labels, {sizes}; "
        f"{trainable:,} trainable / {total:,} parameters; device {job.device}; batch {cfg.train.batch_size}{split}"
        + (f", {accumulate} accumulated: effective batch {cfg.train.batch_size * accumulate}" if accumulate > 1 else ""))


def _progress(events, job, cfg, enabled, log):
    return show(events, len(job.train), cfg.train.epochs, cfg.train.batch_size, enabled, log)


def finish(cfg: Experiment, task: Task, prepared: Prepared, model: torch.nn.Module, run_dir: Path, state: loop.TrainState, device, log: Callable) -> RunResult:
    """Best weights -> bundle; the test split (else validation, else train) -> report."""
    best = run_dir / "checkpoints" / "best.safetensors"
    if best.exists():
        load_weights(model, best)
    split = report_split(prepared)
    report_dir = run_dir / "report"
    result = evaluate_split(model, task, prepared, split, report_dir, state.history, device)
    metrics = {"best_epoch": state.best_epoch, cfg.train.monitor: state.best,
               **{f"{split}_{k}": v for k, v in result["metrics"].items()}}
    bundle_dir = save_bundle(run_dir / "bundle", cfg, task, model, prepared.labels, prepared.preprocessing, metrics)
    if task.capabilities.saves_encoder:  # pretraining: the encoder as a folder that fine-tuning loads
        log(f"encoder: {task.save_artifacts(model, prepared.preprocessing, run_dir)}")
    log(f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items()))
    trained = Bundle(bundle_dir, cfg, task, model, prepared.labels, prepared.preprocessing, metrics, {})
    return RunResult(run_dir, bundle_dir, report_dir, state.history, result["metrics"], trained)
