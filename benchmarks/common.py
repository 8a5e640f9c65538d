"""What the benchmarks share: one epoch through tixel's own loop (train_epoch / train_step), with the
task's training step and the engine's optimiser and schedule factories."""
from __future__ import annotations

import time
from pathlib import Path

from tixel.core.device import denormals_flushed
from tixel.engine import loop
from tixel.engine.finetune import parameter_groups
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.tasks import create_task


def tixel_epoch_rate(model, batches, cfg) -> float:
    """Samples/s of one epoch of tixel's loop. The model gets the task's criterion (label smoothing)."""
    task = create_task(cfg.task, cfg)
    model.criterion = task.criterion(cfg, None, None)
    optimizer = create_optimizer(parameter_groups(model, cfg.train.lr, cfg.train.finetune), cfg.train)
    job = loop.TrainJob(model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, len(batches), cfg.train),
                        train=batches, evaluate=lambda m: {}, task=task, cfg=cfg.train, run_dir=Path("/nonexistent"))
    with denormals_flushed(cfg.train.flush_denormals):  # as `tixel train` runs the loop
        start = time.perf_counter()
        for _ in loop.train_epoch(job):
            pass
        return batches.num_samples / (time.perf_counter() - start)
