"""`tixel evaluate A B`: the report is on the mean of the bundles' class probabilities."""
import json
import subprocess
import sys

import pytest
import torch

from tixel.commands.ensemble import evaluate_ensemble
from tixel.commands.evaluate import prepare_for
from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import ConfigError
from tixel.engine.bundle import load_bundle
from tixel.engine.predict import Predictor

QUIET = dict(progress=False, log=lambda *_: None)


def two_seeds(tiny_raw):
    runs = []
    for seed in (0, 1):
        tiny_raw["seed"], tiny_raw["output"]["name"] = seed, f"seed{seed}"
        runs.append(train(validate(tiny_raw), **QUIET).run_dir)
    return runs


def test_the_report_is_on_the_mean_of_the_members_probabilities(tiny_raw, tmp_path):
    a, b = two_seeds(tiny_raw)
    result = evaluate_ensemble([str(a), str(b)], out_dir=str(tmp_path / "ens"))
    bundles = [load_bundle(a), load_bundle(b)]
    split = prepare_for(bundles[0]).splits["test"]
    probs = [Predictor(x).logits(split.inputs).softmax(-1) for x in bundles]
    assert not torch.allclose(probs[0], probs[1])  # two seeds, two models: the average is not either one
    mean = (probs[0] + probs[1]) / 2
    y = split.targets.long()
    assert result["metrics"]["accuracy"] == pytest.approx(float((mean.argmax(1) == y).float().mean()))
    assert result["metrics"]["loss"] == pytest.approx(float(-mean[torch.arange(len(y)), y].log().mean()), rel=1e-5)
    assert json.loads((tmp_path / "ens" / "metrics.json").read_text()) == result["metrics"]
    assert (tmp_path / "ens" / "confusion_matrix.png").is_file()


def test_members_with_other_labels_are_refused_by_name(tiny_raw):
    a, _ = two_seeds(tiny_raw)
    tiny_raw["data"]["n_class"], tiny_raw["output"]["name"] = 3, "three"
    three = train(validate(tiny_raw), **QUIET).run_dir
    with pytest.raises(ConfigError, match="three.*labels"):
        evaluate_ensemble([str(a), str(three)])


def test_cli_evaluate_with_two_runs_writes_the_ensemble_report(tiny_raw, tmp_path):
    a, b = two_seeds(tiny_raw)
    done = subprocess.run([sys.executable, "-m", "tixel", "evaluate", str(a), str(b)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ensemble of 2 bundles on the test split" in done.stdout
    assert (a / "ensemble-report" / "report.txt").is_file()


def test_predict_with_an_ensemble_gives_the_mean_probabilities(tiny_raw, tmp_path):
    import numpy as np

    from tixel.engine.predict import EnsemblePredictor

    a, b = two_seeds(tiny_raw)
    members = [Predictor.load(a), Predictor.load(b)]
    images = (np.random.default_rng(0).random((3, 8, 8, 1)) * 255).astype(np.uint8)
    mean = (members[0].probabilities(images) + members[1].probabilities(images)) / 2
    together = EnsemblePredictor(members)
    assert torch.allclose(together.probabilities(images), mean, atol=1e-6)
    rows = together.predict(images, top_k=2)
    names = together.bundle.labels.names
    assert [r["label"] for r in rows] == [names[i] for i in mean.argmax(1).tolist()]
    assert rows[0]["top_k"][0]["prob"] == pytest.approx(float(mean[0].max()), abs=1e-6)
    from PIL import Image

    Image.fromarray(images[0, :, :, 0]).save(tmp_path / "x.png")
    done = subprocess.run([sys.executable, "-m", "tixel", "predict", str(a), str(tmp_path / "x.png"), "--ensemble", str(b),
                           "--format", "jsonl"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["label"] == rows[0]["label"]
