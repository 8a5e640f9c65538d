"""SimCLR: NT-Xent against hand-computed values, the batch augmentations, and a pretraining run whose
encoder folder a classifier fine-tunes from (and whose bundle loads without that folder)."""
import copy
import math

import pytest
import torch
from tiny import TINY

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import ConfigError
from tixel.tasks.pretrain.simclr import nt_xent
from tixel.tasks.pretrain.views import ViewConfig, augment, blur, two_views

QUIET = dict(progress=False, log=lambda *_: None)
BLOCKS = [{"channels": 8, "padding": 1, "batch_norm": True}, {"channels": 16, "padding": 1}]


def test_nt_xent_on_a_hand_computed_case():
    # views 0 and 2 are one image, 1 and 3 another; unit vectors, tau = 1: every row sees its positive at
    # cosine 1 and two negatives at cosine 0, so the loss is -log(e / (e + 2)) and every pair is found
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    loss, hits = nt_xent(z, temperature=1.0)
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 2)), abs=1e-6)
    assert hits.item() == 4


def test_nt_xent_matches_the_papers_sum_over_pairs():
    torch.manual_seed(0)
    z, tau = torch.randn(6, 5), 0.5
    u = torch.nn.functional.normalize(z, dim=1)
    n, total = 3, 0.0
    for i in range(6):
        j = (i + n) % 6
        denom = sum(math.exp(float(u[i] @ u[k]) / tau) for k in range(6) if k != i)
        total += -math.log(math.exp(float(u[i] @ u[j]) / tau) / denom)
    assert nt_xent(z, tau)[0].item() == pytest.approx(total / 6, rel=1e-5)


def test_views_are_two_different_augmentations_of_each_image():
    x = torch.rand(4, 1, 12, 12)
    torch.manual_seed(1)
    views = two_views(x, ViewConfig())
    assert views.shape == (8, 1, 12, 12) and not torch.isnan(views).any()
    assert not torch.allclose(views[:4], views[4:])
    torch.manual_seed(1)
    assert torch.equal(views, two_views(x, ViewConfig()))  # the global RNG decides: resumable


def test_a_full_crop_without_jitter_blur_or_noise_keeps_the_image():
    x = torch.rand(3, 3, 10, 10)
    same = ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter=0, blur_probability=0, noise=0)
    assert torch.allclose(augment(x, same), x, atol=1e-5)


def test_blur_keeps_a_constant_image_and_smooths_an_impulse():
    flat = torch.full((2, 1, 9, 9), 0.7)
    assert torch.allclose(blur(flat, 1.0, (1.0, 1.0)), flat, atol=1e-6)
    dot = torch.zeros(1, 1, 9, 9)
    dot[0, 0, 4, 4] = 1.0
    out = blur(dot, 1.0, (1.0, 1.0))
    assert out[0, 0, 4, 4] < 0.5 and out[0, 0, 4, 5] > 0 and out.sum().item() == pytest.approx(1.0, abs=1e-5)


def simclr_raw(tmp_path):
    return {"task": "simclr", "seed": 0,
            "data": {"format": "digits", "split": {"validation": 0.1, "test": 0.0, "seed": 0}, "image": {"size": [12, 12]}},
            "model": {"encoder": {"type": "cnn", "blocks": BLOCKS, "global_pool": "avg"}},
            "simclr": {"projection_dim": 16, "projection_hidden": 32},
            "train": {"epochs": 3, "batch_size": 64, "lr": 0.003, "monitor": "val_loss"},
            "output": {"dir": str(tmp_path / "runs"), "name": "ssl"}}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simclr")
    return train(validate(simclr_raw(tmp)), **QUIET), tmp


def test_pretraining_lowers_the_loss_and_writes_an_encoder_folder(pretrained):
    result, _ = pretrained
    val = [row["val_loss"] for row in result.history]
    assert val[-1] < val[0]
    # 180 validation images are 360 views in one batch: chance of finding the pair is 1 / 359
    assert result.history[-1]["val_accuracy"] > 10 / 359
    folder = result.run_dir / "encoder"
    assert {p.name for p in folder.iterdir()} == {"encoder.json", "encoder.safetensors", "preprocessing.json"}


def finetune_raw(tmp_path, folder, **encoder):
    raw = copy.deepcopy(TINY)
    raw["data"]["image"] = {"size": [12, 12]}
    raw["model"]["encoder"] = {"type": "cnn", "from": str(folder), **encoder}
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": "ft", "overwrite": True}
    return raw


def test_finetuning_starts_from_the_pretrained_encoder(pretrained):
    from safetensors.torch import load_file

    from tixel.engine.bundle import load_bundle
    from tixel.tasks import create_task

    result, tmp = pretrained
    folder = result.run_dir / "encoder"
    cfg = validate(finetune_raw(tmp, folder))
    assert [b.channels for b in cfg.model.encoder.blocks] == [8, 16]  # the architecture comes from the folder
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    saved = load_file(str(folder / "encoder.safetensors"))
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    run = train(cfg, **QUIET)
    (folder.parent / "moved").mkdir()
    folder.rename(folder.parent / "moved" / "encoder")  # a bundle must not need the pretrained folder
    try:
        bundle = load_bundle(run.bundle_dir)
        assert bundle.model.encoder.blocks[0][0].out_channels == 8
    finally:
        (folder.parent / "moved" / "encoder").rename(folder)


def test_a_mismatching_architecture_or_a_missing_folder_is_a_clear_error(pretrained, tmp_path):
    from tixel.tasks import create_task

    result, _ = pretrained
    cfg = validate(finetune_raw(tmp_path, result.run_dir / "encoder", blocks=[{"channels": 4}]))
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    with pytest.raises(ConfigError, match="model.encoder.blocks: differs from the pretrained"):
        task.build_model(cfg, prepared.labels, prepared.preprocessing)
    with pytest.raises(ConfigError, match="no pretrained cnn encoder"):
        validate(finetune_raw(tmp_path, tmp_path / "nowhere"))
