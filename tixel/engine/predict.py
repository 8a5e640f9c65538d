"""The Predictor: bundle -> preprocess -> forward -> decode. predict, evaluate and serve all use it."""
from __future__ import annotations

import json
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from tixel.core.config import validate
from tixel.core.device import denormals_flushed
from tixel.core.errors import ConfigError, TixelError
from tixel.data.labels import LabelSet
from tixel.engine.bundle import Bundle, load_bundle
from tixel.engine.onnx import onnx_model
from tixel.tasks import create_task
from tixel.tasks.classification import logits_of
from tixel.tasks.zero_shot import zero_shot_config


class Predictor:
    def __init__(self, bundle: Bundle, batch_size: int = 256, backend: str = "torch"):
        self.bundle, self.batch_size, self.backend = bundle, batch_size, backend
        self.device = bundle.device

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", backend: str = "torch") -> "Predictor":
        """`backend: onnx` runs the bundle's exported model.onnx with onnxruntime (CPU)."""
        bundle = load_bundle(path, device)
        if backend == "onnx":
            bundle.model = onnx_model(bundle)
        elif backend != "torch":
            raise ValueError(f"backend {backend!r}: expected torch or onnx")
        return cls(bundle, backend=backend)

    @classmethod
    def zero_shot(cls, labels: Sequence[str], templates: Sequence[str] = ("{label}",), encoder: str = "minilm-l6",
                  threshold: float | None = None) -> "Predictor":
        """A zero-shot classifier from label names alone: no config file, no training, no bundle on disk."""
        cfg = validate(zero_shot_config(list(labels), list(templates), encoder, threshold), source="--zero-shot")
        task = create_task(cfg.task, cfg)
        names = LabelSet(list(labels))
        pre = task.fit_preprocessing(None, cfg)
        return cls(Bundle(None, cfg, task, task.build_model(cfg, names, pre), names, pre, {}, {}))

    @torch.no_grad()
    def logits(self, inputs) -> torch.Tensor:
        return logits_of(self.bundle.model, inputs, self.batch_size, self.device)

    def probabilities(self, items: Sequence) -> torch.Tensor:
        """Raw items (images as uint8 arrays, texts as strings) -> class probabilities."""
        b = self.bundle
        with self.cpu_mode():
            return b.task.probabilities(self.logits(b.task.encode(b.preprocessing, list(items))))

    def predict(self, items: Sequence, top_k: int = 3) -> list[dict]:
        """One row per item, as the task decodes it (labels with top-k probabilities, or entities)."""
        with self.cpu_mode():
            return self.bundle.task.predict_rows(self, list(items), top_k)

    def cpu_mode(self):
        """The bundle's `train.flush_denormals`, for this thread while it predicts (the flag is per thread,
        so server threads do not race on it)."""
        return denormals_flushed(self.bundle.config.train.flush_denormals)

    def predict_files(self, paths: Sequence[str | Path], top_k: int = 3) -> list[dict]:
        items = [self.bundle.task.load_file(p) for p in paths]
        return [{"input": str(p), **r} for p, r in zip(paths, self.predict(items, top_k))]


class EnsemblePredictor(Predictor):
    """Several bundles as one classifier: the mean of their class probabilities, the model that `tixel
    evaluate A B ...` reports on. Each member encodes the items its own way."""

    def __init__(self, members: Sequence[Predictor]):
        for member in members:
            check_member(members[0].bundle, member.bundle)
        super().__init__(members[0].bundle, members[0].batch_size, members[0].backend)
        self.members = list(members)

    def probabilities(self, items: Sequence) -> torch.Tensor:
        return torch.stack([m.probabilities(items) for m in self.members]).mean(0)


def stream_predictions(predictor: Predictor, records: Iterable[tuple[str, Any]], output: Path, top_k: int = 3,
                       chunk: int = 256, load: Callable[[Any], Any] | None = None, progress: bool = True) -> dict:
    """Predict `(name, item)` records in chunks, appending one JSONL row per record to `output`.

    Memory stays constant in the input size. Rows already in `output` are kept and their records skipped,
    so a run that was interrupted continues where it stopped; a torn last line is cut off first, and the
    last kept row must name the same input as the record it stands for.
    """
    kept = _complete_rows(output)
    done, records = len(kept), iter(records)
    for index, ((name, _), was) in enumerate(zip(islice(records, done), kept), 1):
        if name != was:
            raise TixelError(f"{output}: its row {index} is for {was!r}, but input {index} is {name!r}; "
                             "it holds another input's predictions (remove it or pick another --output)")
    written = 0
    with output.open("a", encoding="utf-8") as out, _bar(progress, done) as bar:
        while block := list(islice(records, chunk)):
            items = [load(item) if load else item for _, item in block]
            for (name, _), row in zip(block, predictor.predict(items, top_k)):
                out.write(json.dumps({"input": name, **row}, ensure_ascii=False) + "\n")
            out.flush()
            written += len(block)
            bar(len(block))
    return {"skipped": done, "written": written, "output": str(output)}


def _complete_rows(output: Path) -> list:
    """The input of every row already written (read line by line), after cutting off a partial last line
    (a crash mid-write); a complete line that is not a JSON row is an error naming it."""
    if not output.exists():
        return []
    inputs, end = [], 0
    with output.open("rb") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break
            try:
                row = json.loads(line)
                inputs.append(row["input"])
            except (ValueError, KeyError, TypeError):
                raise TixelError(f"{output}, line {line_no}: not a JSON row with an \"input\" (remove the file "
                                 "or pick another --output)") from None
            end += len(line)
    if end != output.stat().st_size:
        with output.open("r+b") as handle:
            handle.truncate(end)
    return inputs


@contextmanager
def _bar(enabled: bool, start: int):
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import (
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (SpinnerColumn(), TextColumn("predicting"), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("predict", total=None, completed=start)
        yield lambda n: bar.advance(task, n)


def check_member(first: Bundle, bundle: Bundle) -> None:
    """A member must be a single-label classifier with the first member's task and labels."""
    if not bundle.task.capabilities.ensemblable:
        raise ConfigError(f"{bundle.path}: ensembles average single-label class probabilities; "
                          f"task {bundle.task.name!r} is not one")
    if bundle.task.name != first.task.name:
        raise ConfigError(f"{bundle.path}: task {bundle.task.name!r}, but {first.path} is {first.task.name!r}")
    if list(bundle.labels.names) != list(first.labels.names):
        raise ConfigError(f"{bundle.path}: labels {bundle.labels.names} differ from {first.path}'s "
                          f"{first.labels.names}")
