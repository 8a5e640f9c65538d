"""`tixel evaluate`: a bundle on its test split (or on a given labelled source) -> report and plots."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch

from tixel.core.config import (
    Experiment,
    apply_overrides,
    differences,
    to_dict,
    validate,
)
from tixel.core.errors import ConfigError
from tixel.engine.bundle import Bundle, load_bundle
from tixel.tasks.protocol import Prepared, Task


def report_split(prepared: Prepared) -> str:
    """The split a report is written on: test, else validation, else (zero-shot on all data) train."""
    return next(name for name in ("test", "validation", "train") if name in prepared.splits)


def evaluate_split(model: torch.nn.Module, task: Task, prepared: Prepared, split: str, out_dir: Path, history: list, device) -> dict:
    return task.report(model, prepared, split, out_dir, history, device)


# What training fixed and the bundle holds (its weights, labels and fitted preprocessing): evaluating with
# another value would silently score something else, so `--set` may change only where the data comes from
# and how it is split and batched. Each preprocessor adds the fields its saved state holds.
FITTED = ("task", "seed", "model", "train", "data.labels", "data.multi_label", "data.scheme", "zero_shot",
          "few_shot", "pretrain", "simclr", "masked_image")


def refuse_fitted_overrides(bundle: Bundle, cfg: Experiment) -> None:
    fitted = FITTED + tuple(bundle.preprocessing.fitted_fields)
    changed = [path for path in differences(to_dict(bundle.config), to_dict(cfg))
               if any(path == f or path.startswith(f + ".") for f in fitted)]
    if changed:
        raise ConfigError(f"--set {', '.join(sorted(changed))}: fixed when {bundle.path} was trained and read from "
                          "the bundle; evaluate may change only the data source, its split and batching")


def prepare_for(bundle: Bundle, overrides: list[str] = (), data: Optional[str] = None) -> Prepared:
    """The bundle's own data (its config, with overrides) or a given labelled source, encoded its way."""
    cfg = validate(apply_overrides(to_dict(bundle.config), list(overrides)), source=f"{bundle.path}/config.yaml")
    refuse_fitted_overrides(bundle, cfg)
    if data:
        return bundle.task.prepare_labelled(data, bundle.labels, bundle.preprocessing, cfg)
    return bundle.task.prepare(cfg, bundle.labels, bundle.preprocessing)


def run_dir_of(bundle: Bundle) -> Path:
    return bundle.path.parent if bundle.path.name == "bundle" else bundle.path


def evaluate_bundle(path: str, overrides: list[str] = (), data: Optional[str] = None,
                    out_dir: Optional[str] = None) -> dict:
    bundle = load_bundle(path)
    prepared = prepare_for(bundle, overrides, data)
    split = report_split(prepared)
    run_dir = run_dir_of(bundle)
    history = _history(run_dir / "metrics.jsonl")
    out = Path(out_dir) if out_dir else run_dir / "report"
    device = bundle.device
    result = evaluate_split(bundle.model, bundle.task, prepared, split, out, history, device)
    seeds = run_dir / "report" / "seeds.json"
    if seeds.is_file() and not data:  # few-shot: one model per shot draw was fitted; the bundle keeps the first
        summary = json.loads(seeds.read_text())
        result["seeds"] = summary
        result["text"] += (f"\nover {len(summary['runs'])} shot draws (seeds "
                           f"{', '.join(str(r['seed']) for r in summary['runs'])}): accuracy mean "
                           f"{summary['mean']:.4f}, std {summary['std']:.4f}; the report above is seed "
                           f"{summary['runs'][0]['seed']}'s model\n")
    return result


def _history(path: Path) -> list:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
