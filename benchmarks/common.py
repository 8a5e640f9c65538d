"""What both benchmarks share: one epoch through tixel's own loop (train_epoch / train_step)."""
from __future__ import annotations

import time
from pathlib import Path

from tixel.engine import loop
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.tasks import classification as clf


def tixel_epoch_rate(model, batches, train_cfg) -> float:
    """Samples/s of one epoch of tixel's loop, with its optimiser and schedule factories."""
    optimizer = create_optimizer(model.parameters(), train_cfg)
    job = loop.TrainJob(model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, len(batches), train_cfg),
                        train=batches, evaluate=lambda m: {}, loss_fn=clf.make_loss(train_cfg, None),
                        cfg=train_cfg, run_dir=Path("/nonexistent"), hits_fn=clf.hits)
    start = time.perf_counter()
    for _ in loop.train_epoch(job):
        pass
    return batches.num_samples / (time.perf_counter() - start)
