"""ONNX export: parity with torch for the CNN, the LSTM and transformer classifiers and the tagger."""
import json
import subprocess
import sys

import pytest
import torch
from serving import QUIET
from text_data import text_config

from tixel.commands.export import export_onnx
from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import TixelError
from tixel.engine.bundle import attach
from tixel.engine.predict import Predictor

TEXTS = ["the film was wonderful", "a boring plot and tedious actors with a really clumsy ending", "x"]
SENTENCES = ["John Smith lives in Paris", "Mary visited the Acme Corporation offices in Berlin yesterday"]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    encoder = {"type": "transformer", "hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64}
    return train(validate(text_config(tmp, encoder, epochs=2)), **QUIET).run_dir


def digit_items(n=5):
    import numpy as np
    from sklearn.datasets import load_digits

    return [(img * 16).clip(0, 255).astype(np.uint8)[..., None] for img in load_digits().images[:n]]


@pytest.mark.parametrize("name, items", [("digits", None), ("sentiment", TEXTS), ("transformer", TEXTS), ("ner", SENTENCES)])
def test_export_parity_and_onnx_backend(runs, transformer_run, name, items):
    run = transformer_run if name == "transformer" else runs[name]
    report = export_onnx(run)
    assert report["passed"] and report["max_abs_diff"] <= 1e-4 and report["examples_from"] == "test split"
    bundle = run / "bundle"
    assert (bundle / "model.onnx").is_file() and json.loads((bundle / "onnx.json").read_text()) == report
    items = items or digit_items()
    eager, onnx = Predictor.load(run), Predictor.load(run, backend="onnx")
    if name == "ner":  # same entities, from the same CRF decoding over ONNX emissions
        assert onnx.predict(items) == eager.predict(items)
        return
    torch.testing.assert_close(onnx.probabilities(items), eager.probabilities(items), atol=1e-5, rtol=0)
    assert [r["label"] for r in onnx.predict(items)] == [r["label"] for r in eager.predict(items)]


def test_failed_parity_saves_nothing(transformer_run):
    before = sorted(p.name for p in (transformer_run / "bundle").iterdir())
    with pytest.raises(TixelError, match="differs from torch"):
        export_onnx(transformer_run, tolerance=-1.0)
    assert sorted(p.name for p in (transformer_run / "bundle").iterdir()) == before


def test_onnx_backend_without_export_says_how(runs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs["digits"] / "bundle", copy)
    attach(copy, [tmp_path / name for name in ("model.onnx", "model.onnx.data", "onnx.json")])  # never exported
    assert not list(copy.glob("*onnx*"))
    with pytest.raises(TixelError, match="tixel export"):
        Predictor.load(copy, backend="onnx")


def test_cli_export_then_predict_with_onnx(runs, tmp_path):
    from PIL import Image

    cli = [sys.executable, "-m", "tixel"]
    done = subprocess.run(cli + ["export", str(runs["digits"])], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "max |onnx - torch|" in done.stdout
    Image.fromarray(digit_items(1)[0][..., 0]).save(tmp_path / "digit.png")
    rows = [subprocess.run(cli + ["predict", str(runs["digits"]), str(tmp_path / "digit.png"), "--backend", backend,
                                  "--format", "jsonl"], capture_output=True, text=True) for backend in ("onnx", "torch")]
    assert all(r.returncode == 0 for r in rows), rows[0].stderr
    onnx, eager = (json.loads(r.stdout) for r in rows)
    assert onnx["label"] == eager["label"]
    assert abs(onnx["top_k"][0]["prob"] - eager["top_k"][0]["prob"]) < 1e-5
