"""The seed's MNIST CNN under Keras `model.fit`, alone in its own process and virtual environment (no
torch imported beside TensorFlow), printing samples/s as one JSON line. train_overhead.py starts it
between its own tixel and plain-PyTorch epochs when given --keras-python.

    /path/to/keras-venv/bin/python benchmarks/keras_seed.py --batch 256 [--mnist ../shared/data/mnist]
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or gzipped) as an array; written here so this process imports no tixel or torch."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(mnist: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if mnist:
        x = read_idx(Path(mnist) / "train-images-idx3-ubyte.gz")[:n]
        y = read_idx(Path(mnist) / "train-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    else:  # the same random data train_overhead.py makes with seed 0
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
    return (x.astype(np.float32) / 255.0)[..., None], y


def keras_epoch(x: np.ndarray, y: np.ndarray, batch: int) -> float:
    import tensorflow as tf

    keras = tf.keras
    model = keras.Sequential([keras.layers.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[: batch * 20], y[: batch * 20], batch_size=batch, epochs=1, verbose=0)  # trace / warm up
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return len(y) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    import tensorflow as tf
    import keras

    x, y = load(args.mnist, args.samples)
    rate = keras_epoch(x, y, args.batch)
    print(json.dumps({"keras": keras.__version__, "tensorflow": tf.__version__, "batch": args.batch,
                      "samples_per_s": rate}))


if __name__ == "__main__":
    main()
