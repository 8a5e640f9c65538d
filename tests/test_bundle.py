import json

import numpy as np
import pytest
import torch
from PIL import Image

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import BundleError, TixelError
from tixel.engine.bundle import load_bundle, manifest, resolve
from tixel.engine.predict import Predictor


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import copy

    from tiny import TINY

    raw = copy.deepcopy(TINY)
    raw["output"] = {"dir": str(tmp_path_factory.mktemp("runs")), "name": "b"}
    raw["data"]["image"] = {"size": [10, 10]}
    return train(validate(raw), progress=False, log=lambda *_: None)


def test_bundle_layout(trained):
    names = {p.name for p in trained.bundle_dir.iterdir()}
    assert names == {"config.yaml", "model.safetensors", "labels.json", "preprocessing.json",
                     "metrics.json", "meta.json"}
    meta = json.loads((trained.bundle_dir / "meta.json").read_text())
    assert meta["task"] == "image_classification" and meta["tixel_version"]
    pre = json.loads((trained.bundle_dir / "preprocessing.json").read_text())["state"]
    assert pre["size"] == [10, 10] and pre["channels"] == 1 and len(pre["mean"]) == 1


def test_round_trip_gives_identical_predictions(trained):
    from tixel.tasks import create_task

    bundle = load_bundle(trained.run_dir)  # a run folder resolves to its bundle
    task = create_task("image_classification")
    prepared = task.prepare(bundle.config, bundle.labels, bundle.preprocessing)
    x = prepared.splits["test"].inputs
    again = load_bundle(trained.bundle_dir)
    with torch.no_grad():
        assert torch.equal(bundle.model(x), again.model(x))
    accuracy = (bundle.model(x).argmax(1) == prepared.splits["test"].targets).float().mean().item()
    assert accuracy == pytest.approx(trained.test_metrics["accuracy"])


def test_predict_files_preprocesses_like_training(trained, tmp_path):
    """A PNG of a digit, read back from disk, gets the same probabilities as the array it came from."""
    from sklearn.datasets import load_digits

    pixels = np.rint(load_digits().images[:3] * (255 / 16)).astype(np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        Image.fromarray(image).convert("RGB").save(tmp_path / f"{i}.png")  # RGB on disk: converted to grey
        paths.append(tmp_path / f"{i}.png")
    predictor = Predictor.load(trained.bundle_dir)
    rows = predictor.predict_files(paths, top_k=2)
    direct = predictor.probabilities([im[..., None] for im in pixels])
    for row, probs in zip(rows, direct):
        assert row["top_k"][0]["prob"] == pytest.approx(probs.max().item(), abs=1e-5)
        assert len(row["top_k"]) == 2 and row["label"] in predictor.bundle.labels.names


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="not a bundle or run folder"):
        resolve(tmp_path)


def test_weights_that_do_not_fit_are_refused(trained, tmp_path):
    import shutil

    from safetensors.torch import save_file

    copy = tmp_path / "copy"
    shutil.copytree(trained.bundle_dir, copy)
    save_file({"encoder.blocks.0.0.weight": torch.zeros(1)}, str(copy / "model.safetensors"))
    with pytest.raises(BundleError, match=r"model.safetensors: .* bytes, but the bundle wrote"):
        load_bundle(copy)  # the manifest notices first
    meta = json.loads((copy / "meta.json").read_text())
    meta["manifest"] = manifest(copy)  # a bundle consistent with itself whose weights still do not fit
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(TixelError, match=r"weights do not fit the model: encoder.blocks.0.0.weight \(1,\)"):
        load_bundle(copy)
