"""Progress display for the loop's events (rich), throttled so it costs nothing per step."""
from __future__ import annotations

import time
from typing import Iterator

from tixel.core.log import RUN_LOG
from tixel.engine.loop import EpochEnd, Step


def show(events: Iterator, steps_per_epoch: int, epochs: int, batch_size: int, enabled: bool = True,
         log=RUN_LOG.info):
    """Display the loop's events and pass each one on to the caller. Without a bar, one line per epoch."""
    if not enabled:
        for event in events:
            if isinstance(event, EpochEnd):
                log(format_epoch(event))
            yield event
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task, last, t0, done = None, 0.0, time.perf_counter(), 0
        for event in events:
            if isinstance(event, Step):
                if task is None:
                    task = bar.add_task(f"epoch {event.epoch + 1}/{epochs}", total=steps_per_epoch, info="")
                    t0, done = time.perf_counter(), event.step - 1
                now = time.perf_counter()
                if now - last > 0.2:  # rich redraws at 10 Hz anyway; updating every step only costs time
                    rate = (event.step - done) * batch_size / max(now - t0, 1e-9)
                    bar.update(task, completed=event.step, info=f"loss {event.loss:.4f}  {rate:,.0f} samples/s")
                    last = now
                yield event
            else:
                bar.remove_task(task) if task is not None else None
                task = None
                console.print(format_epoch(event))
                yield event


def format_epoch(event: EpochEnd) -> str:
    keys = [k for k in event.metrics if k not in ("epoch", "epoch_time_s")]
    parts = [f"{k} {event.metrics[k]:.4g}" if k != "samples_per_s" else f"{event.metrics[k]:,.0f} samples/s"
             for k in keys]
    star = " *" if event.improved else ""
    return f"epoch {event.epoch:>3}  " + "  ".join(parts) + star
