"""The CLI end to end, in subprocesses, as a user runs it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image
from tiny import TINY


def tixel(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "tixel", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture
def config_file(tmp_path):
    raw = {**TINY, "output": {"dir": str(tmp_path / "runs"), "name": "cli"}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_train_evaluate_predict(tmp_path, config_file):
    done = tixel("train", config_file, "--no-progress", "--set", "train.epochs=2")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "cli"
    assert "bundle:" in done.stdout and (run / "bundle" / "model.safetensors").is_file()

    evaluated = tixel("evaluate", run)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "macro avg" in evaluated.stdout and "micro avg" in evaluated.stdout
    report = json.loads((run / "report" / "report.json").read_text())
    assert {"0", "1", "2", "3", "macro avg", "weighted avg", "micro avg", "confusion_matrix"} <= set(report)
    for png in ("confusion_matrix.png", "learning_curve.png"):
        assert (run / "report" / png).read_bytes()[:4] == b"\x89PNG"

    from sklearn.datasets import load_digits

    digits = load_digits(n_class=4)
    images = []
    for i in range(3):
        path = tmp_path / f"d{i}.png"
        Image.fromarray(np.rint(digits.images[i] * 255 / 16).astype(np.uint8)).save(path)
        images.append(path)
    predicted = tixel("predict", run / "bundle", *images, "--format", "jsonl", "--top-k", "2")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["input"] for r in rows] == [str(p) for p in images]
    assert all(len(r["top_k"]) == 2 and 0 <= r["top_k"][0]["prob"] <= 1 for r in rows)


def test_evaluate_on_a_labelled_folder(tmp_path, config_file):
    assert tixel("train", config_file, "--no-progress", "--set", "train.epochs=1").returncode == 0
    from sklearn.datasets import load_digits

    digits = load_digits(n_class=4)
    for i in range(12):
        folder = tmp_path / "folder" / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(digits.images[i] * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    done = tixel("evaluate", tmp_path / "runs" / "cli", "--data", tmp_path / "folder", "--out", tmp_path / "rep")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["macro avg"]["support"] == 12


def test_config_errors_exit_2_with_a_suggestion(config_file):
    done = tixel("config", "check", config_file, "--set", "train.lerning_rate=0.1")
    assert done.returncode == 2
    assert "did you mean 'train.lr'?" in done.stderr
    assert "Traceback" not in done.stderr
    done = tixel("train", config_file, "--set", "model.encoder.blocks.0.channels=many")
    assert done.returncode == 2 and "model.encoder.blocks.0.channels" in done.stderr


def test_config_check_and_schema(config_file):
    done = tixel("config", "check", config_file, "--show")
    assert done.returncode == 0 and yaml.safe_load(done.stdout)["train"]["optimizer"]["name"] == "adam"
    schema = json.loads(tixel("config", "schema").stdout)
    assert schema["title"] == "Experiment" and "train" in schema["properties"]


def test_examples_validate():
    from pathlib import Path

    from tixel.core.config import load_config

    examples = sorted(Path(__file__).parent.parent.glob("examples/*.yaml"))
    assert examples
    for path in examples:
        load_config(path)


def test_help_does_not_import_torch():
    code = "import sys; from tixel.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_ctrl_c_checkpoints_and_says_how_to_resume(tmp_path, config_file):
    import signal
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tixel", "train", str(config_file), "--no-progress",
                             "--set", "train.epochs=500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    metrics = tmp_path / "runs" / "cli" / "metrics.jsonl"
    deadline = time.time() + 120
    while not metrics.exists() and time.time() < deadline:  # after epoch 1, so training is under way
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"--resume {tmp_path / 'runs' / 'cli'}" in err
    from tixel.core.io import load_checkpoint

    state = load_checkpoint(tmp_path / "runs" / "cli" / "checkpoints" / "last.pt")["state"]
    assert state["epoch"] >= 1
    resumed = tixel("train", config_file, "--no-progress", "--set", f"train.epochs={state['epoch'] + 1}",
                    "--resume", tmp_path / "runs" / "cli")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
