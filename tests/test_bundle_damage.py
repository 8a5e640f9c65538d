"""Issue 25, item 3: a damaged bundle is one clear error naming the file, never a traceback, and never a
model that loads and mispredicts."""
import json
import shutil

import pytest
import yaml

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import TixelError
from tixel.engine.bundle import load_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import copy

    from tiny import TINY

    raw = copy.deepcopy(TINY)
    raw["output"] = {"dir": str(tmp_path_factory.mktemp("runs")), "name": "damage"}
    raw["train"]["epochs"] = 1
    return train(validate(raw), progress=False, log=lambda *_: None).bundle_dir


def damaged(bundle, tmp_path, damage):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    damage(copy)
    return copy


def truncate(name):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return damage


def edit_yaml(change):
    def damage(folder):
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        change(cfg)
        (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    return damage


def write(name, text):
    return lambda folder: (folder / name).write_text(text)


DAMAGES = {
    "truncated weights": (truncate("model.safetensors"), "model.safetensors"),
    "channels edited": (edit_yaml(lambda c: c["model"]["encoder"]["blocks"][0].update(channels=8)), "config.yaml"),
    "activation edited": (edit_yaml(lambda c: c["model"]["encoder"]["blocks"][0].update(activation="tanh")),
                          "config.yaml"),
    "config not YAML": (write("config.yaml", "task: [unclosed\n"), "config.yaml"),
    "task edited": (edit_yaml(lambda c: c.update(task="text_classification")), "config.yaml"),
    "fewer labels": (write("labels.json", '["0", "1"]'), "labels.json"),
    "preprocessing removed": (lambda f: (f / "preprocessing.json").unlink(), "preprocessing.json"),
    "meta not JSON": (write("meta.json", "{broken"), "meta.json"),
}


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_a_damaged_bundle_is_one_clear_error_naming_the_file(bundle, tmp_path, name):
    damage, file = DAMAGES[name]
    folder = damaged(bundle, tmp_path, damage)
    with pytest.raises(TixelError) as caught:
        load_bundle(folder)
    assert file in str(caught.value), str(caught.value)


def test_an_undamaged_copy_loads_and_its_manifest_lists_every_file(bundle, tmp_path):
    folder = damaged(bundle, tmp_path, lambda f: None)
    meta = json.loads((folder / "meta.json").read_text())
    assert set(meta["manifest"]) == {p.name for p in folder.iterdir()} - {"meta.json"}
    assert load_bundle(folder).labels.names == load_bundle(bundle).labels.names


def test_the_cli_reports_a_damaged_bundle_without_a_traceback(bundle, tmp_path):
    import subprocess
    import sys

    folder = damaged(bundle, tmp_path, truncate("model.safetensors"))
    done = subprocess.run([sys.executable, "-m", "tixel", "evaluate", str(folder)], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "model.safetensors" in done.stderr, done.stderr


def test_folders_left_by_a_killed_save_are_removed_by_the_next(bundle, tmp_path):
    from tixel.engine.bundle import save_bundle

    loaded = load_bundle(bundle)
    for stale in (".bundle.tmp-999999", ".bundle.old-999998"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".bundle.notes").mkdir()  # not ours: kept
    save_bundle(tmp_path / "bundle", loaded.config, loaded.task, loaded.model, loaded.labels, loaded.preprocessing, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bundle.notes", "bundle"]
    assert load_bundle(tmp_path / "bundle").labels.names == loaded.labels.names
