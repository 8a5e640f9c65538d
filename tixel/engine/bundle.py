"""The model bundle: the only code that writes or reads one.

A bundle is a directory: config.yaml, model.safetensors, labels.json, preprocessing.json (the fitted
preprocessor, tixel/data/preprocessors.py), metrics.json and meta.json (tixel version, format). Loading
never unpickles anything. Format 2 has the one preprocessing.json; format 1 bundles still load.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from tixel import __version__
from tixel.core.config import Experiment, load_config, to_dict
from tixel.core.errors import BundleError
from tixel.core.io import fsync_dir, load_weights, save_weights, write_text
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
    """Write to a sibling temp folder, then swap it in, so a crash never leaves half a bundle. meta.json,
    written last, holds a manifest (every file's size and sha256) that loading checks."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    for stale in path.parent.glob(f".{path.name}.*-*"):  # left by a writer killed mid-save: never a bundle
        if stale.is_dir() and stale.name.rsplit("-", 1)[0] in (f".{path.name}.tmp", f".{path.name}.old"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_text(tmp / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    adapter = cfg.train.finetune.mode in ("lora", "ia3")
    save_weights(model, tmp / "model.safetensors", adapter_state(model) if adapter else None)
    write_text(tmp / "labels.json", json.dumps(labels.names, indent=1, ensure_ascii=False))
    preprocessors.save(preprocessing, tmp)
    write_text(tmp / "metrics.json", json.dumps(metrics, indent=2))
    meta = {"format": FORMAT, "tixel_version": __version__, "task": cfg.task, "torch_version": torch.__version__,
            "weights": "adapter" if adapter else "full", "manifest": manifest(tmp)}
    write_text(tmp / "meta.json", json.dumps(meta, indent=2))
    _swap_in(tmp, path)
    return path


def manifest(folder: Path) -> dict[str, dict]:
    """Every file of the bundle but meta.json: its size and sha256, for `check_manifest`."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "meta.json")
    return {f.relative_to(folder).as_posix(): {"bytes": f.stat().st_size, "sha256": _sha256(f)} for f in files}


def check_manifest(path: Path, meta: dict) -> None:
    """A file missing, cut short or edited since the bundle was written is an error naming it (an edited
    config.yaml would otherwise build another model around the weights and mispredict)."""
    for name, expected in meta.get("manifest", {}).items():  # bundles written before the manifest: no check
        file = path / name
        if not file.is_file():
            raise BundleError(f"{file}: missing (the bundle lists it in meta.json)")
        size = file.stat().st_size
        if size != expected["bytes"]:
            raise BundleError(f"{file}: {size:,} bytes, but the bundle wrote {expected['bytes']:,} (cut short or "
                              "replaced); retrain or restore the bundle")
        if _sha256(file) != expected["sha256"]:
            raise BundleError(f"{file}: changed since the bundle was written (its sha256 differs from meta.json's "
                              "manifest); a bundle's files are read as written, restore it or retrain")


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename the finished folder in; the old one (if any) is moved aside first and removed after, and
    the parent folder is fsynced so the rename survives a power cut."""
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    fsync_dir(path.parent)
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
    meta = _json(path / "meta.json")
    if "manifest" in meta:  # the derived files join the manifest, so loading checks them too
        meta["manifest"] = manifest(path)
        write_text(path / "meta.json", json.dumps(meta, indent=2))


def resolve(path: str | Path) -> Path:
    """A bundle folder, or a run folder holding one under bundle/."""
    path = Path(path)
    for candidate in (path, path / "bundle"):
        if (candidate / "meta.json").is_file():
            return candidate
    raise BundleError(f"{path}: not a bundle or run folder (no meta.json in it or in {path / 'bundle'})")


def inspect_bundle(path: str | Path) -> dict:
    """The cheap checks of `load_bundle` (meta.json, the manifest, config.yaml) without building the model:
    what `tixel serve` runs on every bundle before it binds a port. Returns meta.json."""
    path = resolve(path)
    meta = _json(path / "meta.json")
    if not isinstance(meta, dict) or meta.get("format", 0) > FORMAT:
        raise BundleError(f"{path / 'meta.json'}: not a bundle format this tixel ({__version__}) reads")
    check_manifest(path, meta)
    load_config(path / "config.yaml")
    return meta


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle:
    """The bundle's model, ready to predict. Any damage (a file missing, cut short or edited, JSON or YAML
    that does not parse, weights that do not fit) is one BundleError or ConfigError naming the file."""
    path = resolve(path)
    meta = inspect_bundle(path)
    cfg = load_config(path / "config.yaml")
    task = create_task(cfg.task, cfg)
    labels = LabelSet(_json(path / "labels.json"))
    preprocessing = preprocessors.load(path)
    adapter = meta.get("weights") == "adapter"  # base weights from the pretrained checkpoint, then the adapter
    model = task.build_model(cfg, labels, preprocessing, pretrained=adapter)
    if adapter:
        apply_finetune(model, cfg.train.finetune)
    load_weights(model, path / "model.safetensors", partial=adapter)
    model.to(device).eval()
    metrics = _json(path / "metrics.json") if (path / "metrics.json").exists() else {}
    return Bundle(path, cfg, task, model, labels, preprocessing, metrics, meta)


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{file}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{file}: not valid JSON ({err})") from None
