"""The Predictor: bundle -> preprocess -> forward -> decode. predict, evaluate and serve all use it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from tixel.bundle import Bundle, load_bundle


class Predictor:
    def __init__(self, bundle: Bundle, batch_size: int = 256):
        self.bundle, self.batch_size = bundle, batch_size
        self.device = bundle.device

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        return cls(load_bundle(path, device))

    @classmethod
    def zero_shot(cls, labels: Sequence[str], templates: Sequence[str] = ("{label}",), encoder: str = "minilm-l6",
                  threshold: float | None = None) -> "Predictor":
        """A zero-shot classifier from label names alone: no config file, no training, no bundle on disk."""
        from tixel.config import validate
        from tixel.data.labels import LabelSet
        from tixel.tasks import create_task
        from tixel.tasks.zero_shot import zero_shot_config

        cfg = validate(zero_shot_config(list(labels), list(templates), encoder, threshold), source="--zero-shot")
        task = create_task(cfg.task, cfg)
        names = LabelSet(list(labels))
        pre = task.fit_preprocessing(None, cfg)
        return cls(Bundle(None, cfg, task, task.build_model(cfg, names, pre), names, pre, {}, {}))

    @torch.no_grad()
    def logits(self, inputs) -> torch.Tensor:
        from tixel.tasks.classification import logits_of

        return logits_of(self.bundle.model, inputs, self.batch_size, self.device)

    def probabilities(self, items: Sequence) -> torch.Tensor:
        """Raw items (images as uint8 arrays, texts as strings) -> class probabilities."""
        b = self.bundle
        return b.task.probabilities(self.logits(b.task.encode(b.preprocessing, list(items))))

    def predict(self, items: Sequence, top_k: int = 3) -> list[dict]:
        if hasattr(self.bundle.task, "predict_rows"):  # a task with its own decoding (NER: entities)
            return self.bundle.task.predict_rows(self, list(items), top_k)
        probs = self.probabilities(items)
        k = min(top_k, probs.shape[1])
        values, index = probs.topk(k, dim=1)
        names = self.bundle.labels.names
        rows = []
        for p, row, vals in zip(probs, index.tolist(), values.tolist()):
            out = {"label": names[row[0]],
                   "top_k": [{"label": names[i], "prob": round(v, 6)} for i, v in zip(row, vals)]}
            if self.bundle.task.multi_label:
                out["labels"] = [names[i] for i in torch.nonzero(p > 0.5).flatten().tolist()]
            rows.append(out)
        return rows

    def predict_files(self, paths: Sequence[str | Path], top_k: int = 3) -> list[dict]:
        items = [self.bundle.task.load_file(p) for p in paths]
        return [{"input": str(p), **r} for p, r in zip(paths, self.predict(items, top_k))]
