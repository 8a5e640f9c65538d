"""Masked-image reconstruction: the patch masks, the loss on masked pixels only, and a pretraining run
whose encoder folder a classifier fine-tunes from; an interrupted run resumes to the same weights."""
import copy

import pytest
import torch
from tiny import TINY, stop_after

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.io import load_checkpoint
from tixel.engine.loop import Interrupted
from tixel.tasks.pretrain.masked_image import MaskedImageConfig, masked_l1, patch_mask

QUIET = dict(progress=False, log=lambda *_: None)


def test_masks_are_whole_patches_in_the_asked_ratio_and_differ_per_image():
    torch.manual_seed(0)
    mask = patch_mask(64, 12, 10, MaskedImageConfig(patch_size=4, mask_ratio=0.5))  # 3 x 3 patches, the last cut
    assert mask.shape == (64, 1, 12, 10)
    blocks = mask[:, 0, ::4, ::4]  # one pixel per patch
    assert (blocks.flatten(1).sum(1) == 4).all()  # round(0.5 * 9) patches each
    for r in range(3):
        for c in range(3):
            patch = mask[:, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4]
            assert (patch == patch[:, :1, :1]).all()  # a patch is masked whole or not at all
    assert len({tuple(b.flatten().tolist()) for b in blocks}) > 10


def test_the_loss_counts_masked_pixels_only():
    target = torch.zeros(2, 1, 4, 4)
    recon = torch.zeros(2, 1, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :2] = 1
    recon[:, :, 2:] = 5.0  # wrong only where nothing was masked: no loss
    assert masked_l1(recon, target, mask).item() == 0
    recon[:, :, :2] = 0.5
    assert masked_l1(recon, target, mask).item() == pytest.approx(0.5)


def mim_raw(tmp_path, **train_cfg):
    return {"task": "masked_image", "seed": 0,
            "data": {"format": "digits", "split": {"validation": 0.1, "test": 0.0, "seed": 0}, "image": {"size": [12, 12]}},
            "model": {"encoder": {"type": "cnn", "blocks": [{"channels": 8, "padding": 1}, {"channels": 16, "padding": 1}],
                                  "global_pool": "flatten"}},
            "masked_image": {"patch_size": 3, "mask_ratio": 0.5},
            "train": {"epochs": 3, "batch_size": 64, "lr": 0.003, "monitor": "val_loss", **train_cfg},
            "output": {"dir": str(tmp_path / "runs"), "name": "mim"}}


def test_pretraining_lowers_the_loss_and_a_classifier_fine_tunes_from_it(tmp_path):
    from safetensors.torch import load_file

    from tixel.tasks import create_task

    cfg = validate(mim_raw(tmp_path))
    result = train(cfg, **QUIET)
    val = [row["val_loss"] for row in result.history]
    images = create_task(cfg.task, cfg).prepare(cfg).splits["validation"].inputs
    mask = patch_mask(len(images), 12, 12, cfg.masked_image)
    mean_image = masked_l1(images.mean(0, keepdim=True).expand_as(images), images, mask)
    assert val[-1] < val[0] and val[-1] < 0.95 * mean_image  # better than painting in the average digit
    folder = result.run_dir / "encoder"
    assert {p.name for p in folder.iterdir()} == {"encoder.json", "encoder.safetensors", "preprocessing.json"}
    raw = copy.deepcopy(TINY)
    raw["data"]["image"] = {"size": [12, 12]}
    raw["model"]["encoder"] = {"type": "cnn", "from": str(folder)}
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": "ft"}
    cfg = validate(raw)
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    saved = load_file(str(folder / "encoder.safetensors"))
    assert all(torch.equal(t, saved[name]) for name, t in model.encoder.state_dict().items())
    assert train(cfg, **QUIET).test_metrics["accuracy"] > 0.5


def test_resumed_pretraining_equals_an_uninterrupted_run(tmp_path):
    full = train(validate(mim_raw(tmp_path, epochs=2)), **QUIET)
    raw = mim_raw(tmp_path, epochs=2)
    raw["output"]["name"] = "interrupted"
    cfg = validate(raw)
    with pytest.raises(Interrupted) as err:
        train(cfg, on_event=stop_after(1, 2), **QUIET)
    resumed = train(cfg, resume=err.value.args[0], **QUIET)
    a = load_checkpoint(full.run_dir / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(resumed.run_dir / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_encoder_sees_the_image_with_its_masked_patches_blanked():
    from tixel.tasks.pretrain.masked_image import MaskedImageModel, MaskedImageTask

    seen = []

    class Spy(torch.nn.Module):
        output_dim = 3

        def forward(self, x):
            seen.append(x)
            return x.flatten(1)[:, :3]

    model = MaskedImageModel(Spy(), (1, 8, 8), MaskedImageConfig(patch_size=2, mask_ratio=0.25))
    x = torch.rand(5, 1, 8, 8) + 1.0  # no pixel is 0 before masking
    task = MaskedImageTask()
    task.options, task.augment = MaskedImageConfig(patch_size=2, mask_ratio=0.25), None
    x, mask = task.transform((x, None))  # the task's batch transform draws the masks
    recon, loss = model(x, mask)
    assert recon.shape == x.shape and torch.equal(loss, masked_l1(recon, x, mask))
    assert torch.equal(seen[0] == 0, mask.bool()) and mask.flatten(1).sum(1).tolist() == [16.0] * 5


def test_validation_masks_are_fixed_and_leave_the_training_rng_alone(tmp_path):
    from tixel.tasks import create_task

    cfg = validate(mim_raw(tmp_path))
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = task.validate(model, prepared.splits["validation"], 64, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(7)  # wherever the training stream stands, validation draws the same masks
    assert task.validate(model, prepared.splits["validation"], 64, torch.device("cpu")) == first
