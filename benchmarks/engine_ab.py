"""This checkout's training engine against an earlier commit's, in ONE process: the seed CNN's epochs
through each engine and through a plain PyTorch loop, interleaved round by round, so that the machine's
drift hits all three alike. Prints the median over rounds of each engine's ratio to the plain loop.

    git worktree add /tmp/baseline 2a08730
    python benchmarks/engine_ab.py --baseline /tmp/baseline [--rounds 8] [--samples 10000]

The baseline's `tixel/` is copied to a temporary folder as the package `tixel_baseline` (imports
rewritten), so both versions load side by side. The adapter below speaks the API of commit 2a08730
(loss_fn / hits_fn on the TrainJob); another baseline may need another adapter.
"""
from __future__ import annotations

import argparse
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from train_overhead import SEED_CONFIG, load_data, plain_epoch, tixel_epoch


def import_baseline(checkout: Path):
    """The baseline's package as `tixel_baseline`."""
    root = Path(tempfile.mkdtemp(prefix="tixel-baseline-"))
    shutil.copytree(checkout / "tixel", root / "tixel_baseline")
    for path in (root / "tixel_baseline").rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\btixel(?=[.\s])(?!_)", "tixel_baseline", text))
    sys.path.insert(0, str(root))
    return importlib.import_module("tixel_baseline")


def baseline_epoch(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """One epoch through the baseline's loop (API of 2a08730), as its own benchmark ran it."""
    from tixel_baseline.config import load_config
    from tixel_baseline.data.batching import TensorBatches
    from tixel_baseline.models import build_classifier
    from tixel_baseline.tasks import classification as clf
    from tixel_baseline.train import loop
    from tixel_baseline.train.optim import create_optimizer, create_scheduler

    cfg = load_config(SEED_CONFIG, [f"train.batch_size={batch}"])
    model = build_classifier(cfg.model, (1, 28, 28), 10).to(memory_format=torch.channels_last)
    batches = TensorBatches(x, y, batch, shuffle=True)
    optimizer = create_optimizer(model.parameters(), cfg.train)
    job = loop.TrainJob(model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, len(batches), cfg.train),
                        train=batches, evaluate=lambda m: {}, loss_fn=clf.make_loss(cfg.train, None), cfg=cfg.train,
                        run_dir=Path("/nonexistent"), hits_fn=clf.hits)
    start = time.perf_counter()
    for _ in loop.train_epoch(job):
        pass
    return batches.num_samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout of the earlier commit")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    args = parser.parse_args()
    import_baseline(args.baseline)
    x_np, y_np = load_data(None, args.samples)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.samples:,} samples, {args.rounds} rounds")
    for batch in args.batches:
        ratios: dict[str, list[float]] = {"baseline": [], "this checkout": []}
        for _ in range(args.rounds):
            plain = plain_epoch(x, y, batch)
            ratios["baseline"].append(baseline_epoch(x, y, batch) / plain)
            ratios["this checkout"].append(tixel_epoch(x, y, batch) / plain_epoch(x, y, batch))
        base, now = (statistics.median(r) for r in ratios.values())
        print(f"batch {batch:>4}: engine / plain, median of {args.rounds}: baseline {base:.2f}x, this checkout "
              f"{now:.2f}x ({now / base - 1:+.1%}); spread {min(ratios['this checkout']):.2f}-"
              f"{max(ratios['this checkout']):.2f}x", flush=True)


if __name__ == "__main__":
    main()
