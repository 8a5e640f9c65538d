"""The model bundle: the only code that writes or reads one.

A bundle is a directory: config.yaml, model.safetensors, labels.json, preprocessing.json (the fitted
preprocessor, tixel/data/preprocessors.py), metrics.json and meta.json (tixel version, format). Loading
never unpickles anything. Format 2 has the one preprocessing.json; format 1 bundles still load.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from tixel import __version__
from tixel.core.config import Experiment, to_dict, validate
from tixel.core.errors import BundleError
from tixel.core.io import load_weights, save_weights
from tixel.data import preprocessors
from tixel.data.labels import LabelSet
from tixel.engine.finetune import adapter_state, apply_finetune
from tixel.tasks import create_task
from tixel.tasks.protocol import Task

FORMAT = 2


@dataclass
class Bundle:
    path: Path
    config: Experiment
    task: Task
    model: torch.nn.Module
    labels: LabelSet
    preprocessing: Any
    metrics: dict
    meta: dict

    @property
    def device(self) -> torch.device:
        """Where the model lives (a zero-shot model holds only buffers)."""
        tensor = next(iter([*self.model.parameters(), *self.model.buffers()]), None)
        return tensor.device if tensor is not None else torch.device("cpu")


def save_bundle(path: str | Path, cfg: Experiment, task: Task, model: torch.nn.Module, labels: LabelSet,
                preprocessing: Any, metrics: dict) -> Path:
    """Write to a sibling temp folder, then swap it in, so a crash never leaves half a bundle."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    adapter = cfg.train.finetune.mode in ("lora", "ia3")
    save_weights(model, tmp / "model.safetensors", adapter_state(model) if adapter else None)
    (tmp / "labels.json").write_text(json.dumps(labels.names, indent=1, ensure_ascii=False))
    preprocessors.save(preprocessing, tmp)
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    meta = {"format": FORMAT, "tixel_version": __version__, "task": cfg.task, "torch_version": torch.__version__,
            "weights": "adapter" if adapter else "full"}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    _swap_in(tmp, path)
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def attach(path: str | Path, files: list[Path]) -> None:
    """Move derived files (an ONNX export) into a bundle, each by an atomic rename; a name in `files` that
    does not exist removes a stale copy of it from the bundle."""
    path = resolve(path)
    for file in files:
        if file.exists():
            os.replace(file, path / file.name)
        else:
            (path / file.name).unlink(missing_ok=True)


def resolve(path: str | Path) -> Path:
    """A bundle folder, or a run folder holding one under bundle/."""
    path = Path(path)
    for candidate in (path, path / "bundle"):
        if (candidate / "meta.json").is_file():
            return candidate
    raise BundleError(f"{path}: not a bundle or run folder (no meta.json in it or in {path / 'bundle'})")


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle:
    path = resolve(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format", 0) > FORMAT:
        raise BundleError(f"{path}: bundle format {meta['format']} is newer than this tixel ({__version__})")
    cfg = validate(yaml.safe_load((path / "config.yaml").read_text()), source=str(path / "config.yaml"))
    task = create_task(cfg.task, cfg)
    labels = LabelSet(json.loads((path / "labels.json").read_text(encoding="utf-8")))
    preprocessing = preprocessors.load(path)
    adapter = meta.get("weights") == "adapter"  # base weights from the pretrained checkpoint, then the adapter
    model = task.build_model(cfg, labels, preprocessing, pretrained=adapter)
    if adapter:
        apply_finetune(model, cfg.train.finetune)
    load_weights(model, path / "model.safetensors", partial=adapter)
    model.to(device).eval()
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").exists() else {}
    return Bundle(path, cfg, task, model, labels, preprocessing, metrics, meta)
