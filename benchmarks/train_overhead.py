"""tixel's trainer vs a minimal plain-PyTorch loop (and Keras `model.fit` when TensorFlow is importable),
on the seed CNN, in one process, at the same batch sizes. Prints samples/s and ratios (best of N).

    python benchmarks/train_overhead.py [--mnist ../shared/data/mnist] [--samples 20000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import tixel_epoch_rate
from torch import nn

from tixel.core.config import load_config
from tixel.data.batching import TensorBatches
from tixel.models import build_classifier

SEED_CONFIG = Path(__file__).parent.parent / "examples" / "mnist-seed-cnn.yaml"


def load_data(mnist: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if mnist:
        from tixel.data.idx import read_idx

        x = read_idx(Path(mnist) / "train-images-idx3-ubyte.gz")[:n]
        y = read_idx(Path(mnist) / "train-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    else:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
    return (x.astype(np.float32) / 255.0)[:, None], y


def tixel_epoch(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """One epoch through tixel's own loop (train_epoch/train_step), model and optimiser factories."""
    cfg = load_config(SEED_CONFIG, [f"train.batch_size={batch}"])
    model = build_classifier(cfg.model, (1, 28, 28), 10).to(memory_format=torch.channels_last)
    return tixel_epoch_rate(model, TensorBatches(x, y, batch, shuffle=True), cfg)


def plain_epoch(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """The loop a PyTorch user writes first: textbook layer order, default Adam."""
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    order = torch.randperm(len(y))
    for i in range(0, len(y), batch):
        index = order[i : i + batch]
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(y) / (time.perf_counter() - start)


def keras_epoch(x: np.ndarray, y: np.ndarray, batch: int) -> float | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    keras = tf.keras
    model = keras.Sequential([keras.layers.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    xk = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    model.fit(xk[: batch * 20], y[: batch * 20], batch_size=batch, epochs=1, verbose=0)  # trace / warm up
    start = time.perf_counter()
    model.fit(xk, y, batch_size=batch, epochs=1, verbose=0)
    return len(y) / (time.perf_counter() - start)


def keras_process(python: str, mnist: str | None, samples: int, batch: int) -> float:
    """Keras in its own process and venv (TensorFlow and this torch do not share one process well)."""
    import json
    import subprocess

    script = Path(__file__).parent / "keras_seed.py"
    cmd = [python, str(script), "--samples", str(samples), "--batch", str(batch)] + (["--mnist", mnist] if mnist else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", help="folder with the MNIST IDX files (default: random MNIST-shaped data)")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--keras-python", help="a Python with Keras/TensorFlow: Keras runs there, in its own "
                        "process between tixel's and plain PyTorch's epochs (else in this process, if importable)")
    args = parser.parse_args()
    x_np, y_np = load_data(args.mnist, args.samples)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(y):,} samples, "
          f"{'real MNIST' if args.mnist else 'random MNIST-shaped data'}, best of {args.repeats}")
    for batch in args.batches:
        best = {"tixel": 0.0, "plain": 0.0, "keras": 0.0}
        for _ in range(args.repeats):  # interleaved, so a noisy moment hits both
            best["tixel"] = max(best["tixel"], tixel_epoch(x, y, batch))
            best["plain"] = max(best["plain"], plain_epoch(x, y, batch))
            keras = (keras_process(args.keras_python, args.mnist, args.samples, batch) if args.keras_python
                     else keras_epoch(x_np, y_np, batch))
            best["keras"] = max(best["keras"], keras or 0.0)
        line = (f"batch {batch:>4}: tixel {best['tixel']:>8,.0f}/s  plain torch {best['plain']:>8,.0f}/s  "
                f"ratio {best['tixel'] / best['plain']:.2f}x")
        if best["keras"]:
            line += f"  keras {best['keras']:>8,.0f}/s  ratio {best['tixel'] / best['keras']:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
