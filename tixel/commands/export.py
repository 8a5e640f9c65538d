"""`tixel export BUNDLE --format onnx`: the model's forward pass as ONNX, checked against torch.

The graph is exported with torch.onnx's dynamo exporter (it needs onnxscript), batch and sequence axes
dynamic, and saved as `model.onnx` plus `model.onnx.data` (the weights) inside the bundle. Tokenizing,
image preprocessing and the CRF's Viterbi stay in Python: the bundle's own code runs them around the
graph, so predictions come out of the same decoding path with either backend. The parity check runs the
held-out split (or a few synthetic inputs when the bundle's data is not on this machine) through both and
stores the largest difference in `onnx.json`; export fails when it is above the tolerance.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tixel.commands.evaluate import report_split
from tixel.core.errors import DataError, TixelError
from tixel.engine.bundle import Bundle, attach, load_bundle, save_bundle
from tixel.engine.finetune import PEFT_MODES, merge
from tixel.engine.onnx import OnnxModel


class Positional(torch.nn.Module):
    """A model taking a dict of tensors, as a module taking them positionally (what ONNX graphs take)."""

    def __init__(self, model: torch.nn.Module, keys: list[str]):
        super().__init__()
        self.model, self.keys = model, keys

    def forward(self, *tensors):
        return self.model(dict(zip(self.keys, tensors)))


def export_onnx(path: str | Path, tolerance: float = 1e-4, max_examples: int = 256) -> dict:
    bundle = load_bundle(path)
    if not bundle.task.capabilities.exportable:
        raise TixelError(f"{bundle.path}: task {bundle.config.task} does not export to ONNX (its model is not one "
                         "forward pass from tensors to scores)")
    batches, source = held_batches(bundle, max_examples)
    # The graph is traced on a small fixed batch: a held batch of 32 rows can share its size with a layer
    # width, and the tracer then wrongly ties the batch axis to that constant.
    synthetic = synthetic_batches(bundle)
    example = synthetic[0]
    names, args = graph_inputs(example)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=bundle.path.parent) as tmp:
        file = Path(tmp) / "model.onnx"
        program = torch.onnx.export(_module(bundle.model, names, example), args, input_names=names,
                                    output_names=["logits"], dynamic_shapes=_dynamic(example, args), dynamo=True)
        program.save(str(file), external_data=True)
        seconds = time.perf_counter() - start
        diff = parity(OnnxModel(file, bundle.model), bundle.model, batches + synthetic)
        report = {"max_abs_diff": diff, "tolerance": tolerance, "passed": diff <= tolerance, "examples_from": source,
                  "batches": len(batches), "export_seconds": round(seconds, 2), "torch_version": torch.__version__,
                  "inputs": names}
        if not report["passed"]:
            raise TixelError(f"{bundle.path}: ONNX output differs from torch by {diff:.2e} (> {tolerance}); not saved")
        (Path(tmp) / "onnx.json").write_text(json.dumps(report, indent=2))
        attach(bundle.path, [file, file.with_name("model.onnx.data"), Path(tmp) / "onnx.json"])
    return report


def held_batches(bundle: Bundle, max_examples: int, batch_size: int = 32) -> tuple[list, str]:
    """Batches of the bundle's held-out split, or synthetic ones when its data cannot be read here."""
    try:
        prepared = bundle.task.prepare(bundle.config, bundle.labels, bundle.preprocessing)
    except (DataError, OSError):
        return synthetic_batches(bundle), "synthetic"
    name = report_split(prepared)
    batches = []
    for x, _ in bundle.task.batches(prepared.splits[name], batch_size, shuffle=False).epoch():
        batches.append(x)
        if len(batches) * batch_size >= max_examples:
            break
    return batches, f"{name} split"


def synthetic_batches(bundle: Bundle) -> list:
    task, pre = bundle.task, bundle.preprocessing
    if task.inputs == "image":
        rng = np.random.default_rng(0)
        size, channels = tuple(pre.size), pre.channels
        return [task.encode(pre, rng.integers(0, 256, (n, *size, channels), dtype=np.uint8)) for n in (3, 7)]
    texts = ["a short text", "Another, somewhat longer text with more words in it, to pad the batch.",
             "Numbers 12 and 3.5 and a URL http://example.com"]
    if bundle.config.task == "ner":
        return [pre.encode([t.split() for t in texts]), pre.encode([t.split() for t in texts[:1] + ["x"]])]
    return [task.encode(pre, texts), task.encode(pre, texts[:1] + ["x"])]


def graph_inputs(example) -> tuple[list[str], tuple]:
    if isinstance(example, dict):
        names = sorted(k for k, v in example.items() if torch.is_tensor(v))
        return names, tuple(example[k] for k in names)
    return ["images"], (example,)


def _module(model, names: list[str], example):
    return Positional(model, names) if isinstance(example, dict) else model


def _dynamic(example, args: tuple):
    """Images: the batch axis. Text: every axis (batch, tokens, words, characters per word)."""
    if not isinstance(example, dict):
        return ({0: torch.export.Dim.DYNAMIC},)
    return (tuple({d: torch.export.Dim.DYNAMIC for d in range(a.dim())} for a in args),)


@torch.no_grad()
def parity(onnx_model: "OnnxModel", model: torch.nn.Module, batches: list) -> float:
    model.eval()
    return max(float((onnx_model(x) - model(x).float()).abs().max()) for x in batches)


def merge_bundle(path: str | Path, out: str | Path) -> Path:
    """A LoRA/IA3 bundle (adapter and head) -> a plain bundle at `out` with the adapter folded into the weights."""
    bundle = load_bundle(path)
    mode = bundle.config.train.finetune.mode
    if mode not in PEFT_MODES:
        raise TixelError(f"{bundle.path}: --merge folds in a LoRA or IA3 adapter; this bundle was trained with "
                         f"train.finetune.mode: {mode}")
    model = merge(bundle.model)
    finetune = bundle.config.train.finetune.model_copy(update={"mode": "full"})
    cfg = bundle.config.model_copy(update={"train": bundle.config.train.model_copy(update={"finetune": finetune})})
    return save_bundle(out, cfg, bundle.task, model, bundle.labels, bundle.preprocessing, bundle.metrics)


def export(path: str | Path, format: str = "onnx", tolerance: float = 1e-4) -> dict:
    if format != "onnx":
        raise TixelError(f"--format {format}: expected onnx")
    return export_onnx(path, tolerance)


