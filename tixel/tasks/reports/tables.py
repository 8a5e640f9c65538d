"""The classification report: sklearn's per-class table plus the micro average, as text and JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tixel.core.io import write_text
from tixel.tasks.reports import plots


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> tuple[str, dict]:
    from sklearn.metrics import classification_report as sk_report
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(names)))
    kwargs = dict(labels=labels, target_names=names, digits=4, zero_division=0)
    text = sk_report(y_true, y_pred, **kwargs)
    report = sk_report(y_true, y_pred, output_dict=True, **kwargs)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="micro", zero_division=0)
    report["micro avg"] = {"precision": p, "recall": r, "f1-score": f, "support": int(len(y_true))}
    width = max(len(n) for n in [*names, "weighted avg"])
    micro = f"{'micro avg':>{width}}  {p:>9.4f} {r:>9.4f} {f:>9.4f} {len(y_true):>9}\n"
    return text.rstrip("\n") + "\n" + micro, report


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def write_report(out_dir: Path, y_true, y_pred, names: list[str], history: list[dict]) -> dict:
    """Write report.txt, report.json, confusion_matrix.png and (with a history) learning_curve.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text, report = classification_report(y_true, y_pred, names)
    write_text(out_dir / "report.txt", text)
    report["labels"] = names
    if y_true.ndim == 1:  # a multi-label report has no single confusion matrix
        matrix = confusion(y_true, y_pred, len(names))
        report["confusion_matrix"] = matrix.tolist()
        plots.confusion_matrix(matrix, names, out_dir / "confusion_matrix.png")
    write_text(out_dir / "report.json", json.dumps(report, indent=2))
    if history:
        plots.learning_curve(history, out_dir / "learning_curve.png")
    return {"text": text, "report": report, "dir": out_dir}


def write_metrics(out_dir: Path, probs: torch.Tensor, targets: torch.Tensor, names: list[str],
                  multi_label: bool, history: list, loss: float) -> dict:
    """Report, plots and metrics.json from class probabilities (softmax, or sigmoid when multi-label)."""
    y_true = targets.long().numpy()
    y_pred = ((probs > 0.5).long() if multi_label else probs.argmax(1)).numpy()
    written = write_report(out_dir, y_true, y_pred, names, history)
    exact = (y_true == y_pred).all(1) if multi_label else y_true == y_pred
    metrics = {
        "accuracy": float(exact.mean()),
        "macro_f1": written["report"]["macro avg"]["f1-score"],
        "micro_f1": written["report"]["micro avg"]["f1-score"],
        "loss": loss,
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    return {"metrics": metrics, "text": written["text"], "dir": out_dir}
