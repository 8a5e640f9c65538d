"""Every registered task, through the Task contract alone, on tiny data: it declares capabilities, one
training step (for a task the engine trains) lowers nothing to NaN and reaches every trainable weight, a
bundle saved, copied to a fresh folder and loaded there gives the in-memory model's outputs, and a task
that predicts returns one row per item. A task registered without a case here fails the sweep."""
from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch
from ner_data import write_conll
from text_data import sentiment_rows, write_jsonl
from tiny import TINY

from tixel.commands.train import make_job
from tixel.core import registry
from tixel.core.config import validate
from tixel.core.device import to_device
from tixel.core.io import load_checkpoint
from tixel.engine import loop
from tixel.engine.bundle import load_bundle, save_bundle
from tixel.engine.predict import Predictor
from tixel.engine.stages import stage_runner
from tixel.tasks import create_task
from tixel.tasks.protocol import Capabilities, StepOutput, Task

TEXT_RNN = {"type": "rnn", "embedding_dim": 8, "hidden_size": 8}
TINY_BERT = {"type": "transformer", "hidden_size": 16, "layers": 1, "heads": 2, "intermediate_size": 32}
SPORT = ["The striker scored twice", "The champion won the final", "The team lost the match"]
TECH = ["The phone has a faster chip", "Engineers released new software", "The laptop battery lasts"]


def image(tmp_path, task: str = "image_classification", **extra) -> dict:
    raw = copy.deepcopy(TINY)
    raw.update(task=task, **extra)
    raw["data"]["image"] = {"size": [12, 12]}
    return raw


def text(tmp_path, task: str, encoder: dict, **extra) -> dict:
    return {"task": task, "seed": 0, **extra,
            "data": {"format": "jsonl", "train": write_jsonl(tmp_path / "train.jsonl", sentiment_rows(60)),
                     "split": {"validation": 0.2, "test": 0.2}, "tokenizer": {"vocab_size": 120, "max_length": 24}},
            "model": {"encoder": encoder}, "train": {"batch_size": 8, "monitor": "val_loss"}}


def labelled_topics(tmp_path, task: str, **extra) -> dict:
    rows = [{"text": t, "label": y} for ts, y in ((SPORT, "sport"), (TECH, "tech")) for t in ts]
    return {"task": task, "seed": 0, **extra,
            "data": {"format": "jsonl", "train": write_jsonl(tmp_path / "train.jsonl", rows), "split": {"validation": 0}},
            "model": {"encoder": {"type": "transformer", "pretrained": "minilm-l6"}}}


def rated(tmp_path) -> dict:
    raw = text(tmp_path, "text_regression", TEXT_RNN)
    rows = [{"text": r["text"], "label": 4.5 if r["label"] == "pos" else 1.5} for r in sentiment_rows(60)]
    raw["data"]["train"] = write_jsonl(tmp_path / "rated.jsonl", rows)
    return raw


def ner(tmp_path) -> dict:
    write_conll(tmp_path / "train.conll", 40)
    return {"task": "ner", "seed": 0,
            "data": {"format": "conll", "train": str(tmp_path / "train.conll"), "tag_column": 3,
                     "split": {"validation": 0.2, "test": 0.2}},
            "model": {"encoder": {**TEXT_RNN, "bidirectional": True}, "head": {"crf": True}},
            "train": {"batch_size": 8, "monitor": "val_f1"}}


CASES = {
    "image_classification": (image, None),
    "text_classification": (lambda p: text(p, "text_classification", TEXT_RNN), ["a great film", "boring"]),
    "ner": (ner, ["Peter met Mary in Paris", "nothing here"]),
    "zero_shot_classification": (lambda p: labelled_topics(p, "zero_shot_classification",
                                                           zero_shot={"labels": ["sport", "tech"]}),
                                 ["The goalkeeper saved a penalty", "A new phone"]),
    "few_shot_classification": (lambda p: labelled_topics(p, "few_shot_classification",
                                                          few_shot={"shots_per_class": 2, "pairs_per_example": 1}),
                                ["The goalkeeper saved a penalty", "A new phone"]),
    "text_regression": (lambda p: rated(p), ["a great film", "boring"]),
    "masked_lm": (lambda p: text(p, "masked_lm", TINY_BERT, pretrain={"mask_probability": 0.3}), None),
    "language_model": (lambda p: text(p, "language_model", {**TEXT_RNN, "bidirectional": True}), None),
    "simclr": (lambda p: image(p, "simclr"), None),
    "masked_image": (lambda p: image(p, "masked_image"), None),
}


def test_every_registered_task_has_a_case():
    assert set(registry.entries("task")) == set(CASES)


def outputs(model, x) -> torch.Tensor:
    """The model's output on x (the first tensor of a tuple), in eval mode and without randomness."""
    model.eval()
    with torch.no_grad():
        out = model(x)
    return (out[0] if isinstance(out, tuple) else out).float()


@pytest.mark.parametrize("name", sorted(CASES))
def test_task_contract(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TIXEL_CACHE_DIR", str(tmp_path / "cache"))
    make, items = CASES[name]
    raw = make(tmp_path)
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": name}
    cfg = validate(raw)
    task = create_task(cfg.task, cfg)
    assert isinstance(task, Task) and isinstance(task.capabilities, Capabilities)

    if task.capabilities.trains == "gradient":
        prepared = task.prepare(cfg)
        torch.manual_seed(0)
        model = task.build_model(cfg, prepared.labels, prepared.preprocessing, train=prepared.splits["train"])
        model.train()
        batch = next(iter(task.batches(prepared.splits["train"], 8, shuffle=True).epoch(torch.Generator().manual_seed(0))))
        out = task.training_step(model, task.transform(to_device(batch, torch.device("cpu"))))
        assert isinstance(out, StepOutput) and out.count > 0 and torch.isfinite(out.loss)
        assert set(out.metrics) == set(task.train_metric_names)
        out.loss.backward()
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        reached = [n for n, p in trainable if p.grad is not None and p.grad.abs().sum() > 0]
        assert len(reached) >= 0.5 * len(trainable), f"{name}: gradients reach only {reached}"
        # an epoch on the engine's loop: its checkpoint (history and best included) holds only plain types,
        # so a weights-only load takes it (seqeval's numpy floats once made NER runs impossible to resume)
        job = make_job(cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1, "monitor": "train_loss"})}), task,
                       prepared, model, tmp_path / "job", torch.device("cpu"))
        for _ in loop.fit(job):
            pass
        state = load_checkpoint(tmp_path / "job" / "checkpoints" / "last.pt")["state"]
        assert state["epoch"] == 1 and all(type(v) in (int, float) for v in state["history"][0].values())
    else:
        run_dir = tmp_path / "runs" / name
        runner = stage_runner(cfg.train, run_dir, torch.device("cpu"), False, lambda *_: None)
        prepared, model = task.fit(cfg, run_dir, lambda *_: None, runner)

    first = save_bundle(tmp_path / "a", cfg, task, model, prepared.labels, prepared.preprocessing, {})
    moved = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(first, moved)
    shutil.rmtree(first)  # the copy must stand alone
    loaded = load_bundle(moved)
    assert loaded.task.capabilities == task.capabilities
    split = next(iter(prepared.splits.values()))
    x = next(iter(task.batches(split, 4, shuffle=False).epoch()))[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        expected = outputs(model, x)
        torch.manual_seed(1)
        got = outputs(loaded.model, x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

    if task.capabilities.outputs == "none":
        return
    if items is None:  # images: the task's own input type
        items = list(np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8))
    rows = Predictor(loaded).predict(items)
    assert len(rows) == len(items)
    key = {"classes": "label", "entities": "entities", "values": "value"}[task.capabilities.outputs]
    assert all(key in row for row in rows)
