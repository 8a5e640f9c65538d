"""PNG plots of an evaluation (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tixel.core.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix(matrix: np.ndarray, names: list[str], path: Path) -> None:
    plt = _pyplot()
    k = len(names)
    size = min(14, 2 + 0.5 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)  # colour by recall, so rare classes show
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (colour: row-normalised)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def learning_curve(history: list[dict], path: Path) -> None:
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "val_loss"):
        if key in history[0]:
            left.plot(epochs, [row[key] for row in history], marker="o", label=key)
    metrics = [k for k in history[0] if k.startswith(("train_", "val_")) and "loss" not in k]
    for key in metrics:
        right.plot(epochs, [row[key] for row in history], marker="o", label=key)
    for ax, title in ((left, "loss"), (right, "metrics")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
