"""The Predictor: bundle -> preprocess -> forward -> decode. predict, evaluate and serve all use it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from tixel.bundle import Bundle, load_bundle


class Predictor:
    def __init__(self, bundle: Bundle, batch_size: int = 256):
        self.bundle, self.batch_size = bundle, batch_size
        self.device = next(bundle.model.parameters()).device

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        return cls(load_bundle(path, device))

    @torch.no_grad()
    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        from tixel.tasks.classification import logits_of

        return logits_of(self.bundle.model, inputs, self.batch_size, self.device)

    def probabilities(self, items: Sequence) -> torch.Tensor:
        """Raw items (images as uint8 arrays) -> class probabilities."""
        b = self.bundle
        return self.logits(b.task.encode_inputs(b.preprocessing, list(items))).softmax(-1)

    def predict(self, items: Sequence, top_k: int = 3) -> list[dict]:
        probs = self.probabilities(items)
        k = min(top_k, probs.shape[1])
        values, index = probs.topk(k, dim=1)
        names = self.bundle.labels.names
        return [
            {"label": names[row[0]], "top_k": [{"label": names[i], "prob": round(p, 6)} for i, p in zip(row, vals)]}
            for row, vals in zip(index.tolist(), values.tolist())
        ]

    def predict_files(self, paths: Sequence[str | Path], top_k: int = 3) -> list[dict]:
        from tixel.data.images import load_image

        items = [load_image(p, None, None) for p in paths]
        return [{"input": str(p), **r} for p, r in zip(paths, self.predict(items, top_k))]
