"""Data-parallel training: 2 gloo processes under torchrun give the weights of one process with the
same global batch (within 1e-5), resume under DDP, and gradient accumulation equals the larger batch."""
import copy
import os
import subprocess
import sys

import pytest
import torch
import yaml
from tiny import TINY

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.io import load_checkpoint

QUIET = dict(progress=False, log=lambda *_: None)


def deterministic_raw(tmp_path, name, epochs=2, **train_cfg):
    """No batch norm, dropout or augmentation: what would differ between processes by design."""
    raw = copy.deepcopy(TINY)
    raw["data"].pop("augment")
    raw["model"] = {"encoder": {"type": "cnn", "blocks": [{"channels": 4, "padding": 1}]}, "head": {"hidden": [16]}}
    raw["train"].update(epochs=epochs, batch_size=32, **train_cfg)
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": name}
    return raw


def torchrun(tmp_path, raw, *args):
    path = tmp_path / f"{raw['output']['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "tixel", "train", str(path), "--no-progress", *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def assert_same(a: dict, b: dict, atol=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=atol), (key, (a[key] - b[key]).abs().max())


def history(run_dir):
    import json

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["train_loss"], r["train_accuracy"], r["val_loss"], r["val_accuracy"]) for r in rows]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    return train(validate(deterministic_raw(tmp, "one", epochs=3)), **QUIET)


def test_two_gloo_processes_match_one_process(tmp_path, single):
    raw = deterministic_raw(tmp_path, "two", epochs=3)
    out = torchrun(tmp_path, raw)
    run = tmp_path / "runs" / "two"
    assert "batch 32 = 2 processes x 16" in out
    assert_same(weights(single.run_dir), weights(run))
    for a, b in zip(history(single.run_dir), history(run)):  # train metrics reduced over both processes
        assert a == pytest.approx(b, abs=1e-5)
    assert (run / "bundle" / "model.safetensors").is_file() and not list(run.glob("**/*.tmp"))


def test_a_ddp_run_resumes_to_the_same_weights(tmp_path, single):
    raw = deterministic_raw(tmp_path, "resumed", epochs=2)
    torchrun(tmp_path, raw)
    raw["train"]["epochs"] = 3
    out = torchrun(tmp_path, raw, "--resume", str(tmp_path / "runs" / "resumed"))
    assert "resuming" in out
    assert_same(weights(single.run_dir), weights(tmp_path / "runs" / "resumed"))


def test_gradient_accumulation_equals_the_larger_batch(tmp_path, single):
    raw = deterministic_raw(tmp_path, "accumulated", epochs=3, accumulate=2)
    raw["train"]["batch_size"] = 16
    accumulated = train(validate(raw), **QUIET)  # 16 + 16 = one batch of 32; an epoch's odd last batch is rescaled
    assert_same(weights(single.run_dir), weights(accumulated.run_dir))


def test_bf16_and_accumulation_run_under_ddp(tmp_path):
    raw = deterministic_raw(tmp_path, "bf16", epochs=2, accumulate=2, precision="bf16")
    out = torchrun(tmp_path, raw)
    assert "accumulated: effective batch 64" in out
    rows = history(tmp_path / "runs" / "bf16")
    assert rows[1][0] < rows[0][0]  # the train loss falls
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "runs" / "bf16").values())
