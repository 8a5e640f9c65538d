"""Training speed of the RNN and CNN examples with `train.flush_denormals` on and off, each pair measured
back to back in one process (alternated, best of N), through the engine's own loop and the example's own
model, data, tokenizer and batch size. Prints a table of samples/s and the on/off ratio.

    python benchmarks/denormals.py [--steps 30] [--repeats 2] [--examples imdb-seed-lstm sst2-bilstm ...]

The examples read ../shared/data (run from the repository root); one whose data is missing is skipped.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from tixel.core.config import load_config
from tixel.core.device import denormals_flushed
from tixel.core.errors import TixelError
from tixel.engine import loop
from tixel.engine.finetune import parameter_groups
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.tasks import create_task

EXAMPLES = ["digits-cnn", "mnist-seed-cnn", "mnist-cnn", "imdb-seed-lstm", "sst2-bilstm", "sst2-bilstm-glove",
            "sst2-text-cnn", "bbc-lstm", "chnsenticorp-char-bilstm", "wnut16-bilstm-crf", "conll2003-bilstm-crf"]


def rate(cfg, task, prepared, steps: int, flush: bool) -> float:
    """Samples/s over `steps` training batches from a fresh model (seed 0)."""
    torch.manual_seed(0)
    split = prepared.splits["train"]
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing, train=split)
    batches = task.batches(split, cfg.train.batch_size, shuffle=True)
    optimizer = create_optimizer(parameter_groups(model, cfg.train.lr, cfg.train.finetune), cfg.train)
    job = loop.TrainJob(model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, len(batches), cfg.train),
                        train=batches, evaluate=lambda m: {}, task=task, cfg=cfg.train, run_dir=Path("/nonexistent"))
    with denormals_flushed(flush):
        events = loop.train_epoch(job)
        next(events)  # the first step (allocation, oneDNN primitive creation) is not timed
        start, seen = time.perf_counter(), job.state.seen
        for _ in itertools.islice(events, steps):
            pass
        torch.tensor(0.0).add_(job.state.loss_sum)  # wait for the last step's work
        return (job.state.seen - seen) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=EXAMPLES)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps, best of {args.repeats}")
    print("| example | model | batch | flush off (samples/s) | flush on (samples/s) | on / off |")
    print("|---|---|---|---|---|---|")
    for name in args.examples:
        try:
            cfg = load_config(Path("examples") / f"{name}.yaml", ["data.split.train_limit=4000"]
                              if "digits" not in name else [])
            task = create_task(cfg.task, cfg)
            prepared = task.prepare(cfg)
        except (TixelError, OSError) as err:
            print(f"| {name} | skipped: {str(err)[:80]} | | | | |")
            continue
        best = {False: 0.0, True: 0.0}
        for _ in range(args.repeats):
            for flush in (False, True):
                best[flush] = max(best[flush], rate(cfg, task, prepared, args.steps, flush))
        encoder = cfg.model.encoder
        kind = f"{encoder.type}" + (f" {getattr(encoder, 'cell', '')}".rstrip() if encoder.type == "rnn" else "")
        print(f"| {name} | {kind} | {cfg.train.batch_size} | {best[False]:,.0f} | {best[True]:,.0f} | "
              f"{best[True] / best[False]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
