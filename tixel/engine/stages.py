"""Training stages of tasks that fit themselves (few-shot's contrastive tuning and end-to-end stage), run
on the engine's loop: the run's device and precision, the registered optimiser and schedule, a checkpoint
per epoch in RUN/stages/<name>/ and exact resume, and the same progress display as `tixel train`.

A task in the lower layer cannot import the engine, so the engine hands it a `TrainStage` callable.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Optional

import torch

from tixel.core.config import FinetuneConfig, OptimizerConfig
from tixel.engine import loop
from tixel.engine.finetune import parameter_groups
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.engine.progress import show
from tixel.tasks.protocol import Stage, TrainStage

FOLDER = "stages"


def stage_config(train_cfg, stage: Stage):
    """The run's `train` section with the stage's epochs and rate; no validation split, so the loop
    keeps the last epoch (monitor train_loss, no patience, no moving average). Unless `train.optimizer`
    is set, AdamW with weight decay 0.01, the optimiser SetFit's stages use."""
    update = {"epochs": stage.epochs, "lr": stage.lr, "monitor": "train_loss", "mode": "min", "patience": None,
              "ema": None, "accumulate": 1, "finetune": FinetuneConfig()}
    if "optimizer" not in train_cfg.model_fields_set:
        update["optimizer"] = OptimizerConfig(name="adamw", weight_decay=0.01)
    return train_cfg.model_copy(update=update)


def stage_runner(train_cfg, run_dir: Path, device: torch.device, progress: bool,
                 log: Callable[[str], None], on_event: Optional[Callable] = None) -> TrainStage:
    """`on_event(job, event)` sees every event of every stage, as `tixel train`'s hook does."""
    def run(stage: Stage) -> list[dict]:
        cfg = stage_config(train_cfg, stage)
        folder = Path(run_dir) / FOLDER / stage.name
        model = stage.model.to(device)
        optimizer = create_optimizer(parameter_groups(model, cfg.lr, cfg.finetune), cfg)
        job = loop.TrainJob(model=model, optimizer=optimizer,
                            scheduler=create_scheduler(optimizer, len(stage.batches), cfg), train=stage.batches,
                            evaluate=lambda m: {}, task=stage.steps, cfg=cfg, run_dir=folder, device=device,
                            seed=stage.seed, keep_best=False)  # a stage keeps its last weights, as SetFit
        last = folder / "checkpoints" / "last.pt"
        if last.is_file():  # a stage of an interrupted run: continue it (a finished one trains no more)
            loop.restore(job, last)
            log(f"stage {stage.name}: resuming at epoch {job.state.epoch + 1}, step {job.state.step}")
        else:
            torch.manual_seed(stage.seed)  # dropout draws from here; the checkpoints keep it from now on
        for event in show(loop.fit(job), len(stage.batches), cfg.epochs, stage.batches.batch_size, progress,
                      lambda line: log(f"stage {stage.name}: {line}")):
            if on_event:
                on_event(job, event)
        model.eval()
        return job.state.history

    return run


def remove_stages(run_dir: Path) -> None:
    """Once the bundle holds the result, the stages' checkpoints (a sentence encoder and its optimiser
    state each) are only disk space."""
    shutil.rmtree(Path(run_dir) / FOLDER, ignore_errors=True)
