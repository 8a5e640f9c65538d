import math

import numpy as np
import pytest
import torch

from tixel.commands.train import train
from tixel.core.config import TrainConfig, validate
from tixel.core.errors import TixelError
from tixel.core.io import load_checkpoint, save_checkpoint
from tixel.engine.optim import create_optimizer, lr_factor


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": torch.tensor(1)}, path)

    def crash(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint({"epoch": torch.tensor(2)}, path)
    assert load_checkpoint(path)["epoch"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_checkpoint_loading_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(TixelError, match="cannot load checkpoint"):
        load_checkpoint(path)


def factors(**kw):
    cfg = TrainConfig(epochs=4, **kw)
    return [lr_factor(step, 10, cfg) for step in range(40)]


def test_schedules():
    assert set(factors()) == {1.0}
    step = factors(schedule={"name": "step", "step_epochs": 2, "gamma": 0.5})
    assert step[19] == 1.0 and step[20] == 0.5
    cosine = factors(schedule={"name": "cosine", "warmup_epochs": 1, "min_lr_ratio": 0.1})
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == pytest.approx(1.0)
    assert cosine[10] == pytest.approx(1.0) and cosine[-1] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:]))


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("sgd", torch.optim.SGD)])
def test_optimizers(name, cls):
    model = torch.nn.Linear(3, 2)
    opt = create_optimizer(model.parameters(), TrainConfig(optimizer={"name": name, "momentum": 0.9,
                                                                      "weight_decay": 0.01}))
    assert isinstance(opt, cls) and opt.param_groups[0]["weight_decay"] == 0.01


def test_early_stopping_counts_epochs(tiny_raw):
    from tixel.commands.train import train
    from tixel.core.config import validate

    # lr so small nothing improves after epoch 1 beyond min_delta: patience 2 stops at epoch 3 of 10
    tiny_raw["train"].update(epochs=10, lr=1e-7, patience=2, min_delta=0.5, monitor="val_loss")
    result = train(validate(tiny_raw), progress=False, log=lambda *_: None)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]


def test_unknown_monitor_is_a_config_error(tiny_raw):
    from tixel.commands.train import train
    from tixel.core.config import validate
    from tixel.core.errors import ConfigError

    tiny_raw["train"]["monitor"] = "val_acuracy"
    with pytest.raises(ConfigError, match="did you mean 'val_accuracy'"):
        train(validate(tiny_raw), progress=False, log=lambda *_: None)


def test_bf16_autocast_trains(tiny_raw):
    from tixel.commands.train import train
    from tixel.core.config import validate

    tiny_raw["train"].update(epochs=1, precision="bf16")
    result = train(validate(tiny_raw), progress=False, log=lambda *_: None)
    assert math.isfinite(result.history[0]["train_loss"])


def test_no_validation_split_logs_train_metrics_only(tiny_raw):
    from tixel.commands.train import train
    from tixel.core.config import validate

    tiny_raw["data"]["split"]["validation"] = 0
    tiny_raw["train"].update(epochs=1, monitor="train_loss")
    result = train(validate(tiny_raw), progress=False, log=lambda *_: None)
    assert not [k for k in result.history[0] if k.startswith("val_")]
    assert "accuracy" in result.test_metrics


def test_class_weights():
    from tixel.core.errors import ConfigError
    from tixel.data.labels import LabelSet
    from tixel.tasks.classification import class_weights

    labels = LabelSet(["a", "b"])
    targets = torch.tensor([0, 0, 0, 1])
    assert class_weights(None, labels, targets) is None
    torch.testing.assert_close(class_weights("balanced", labels, targets), torch.tensor([4 / 6, 4 / 2]))
    torch.testing.assert_close(class_weights({"b": 3.0}, labels, targets), torch.tensor([1.0, 3.0]))
    with pytest.raises(ConfigError, match=r"\['c'\] not in the label set"):
        class_weights({"c": 2.0}, labels, targets)


def test_overwrite_clears_an_old_run_but_never_a_foreign_folder(tiny_raw, tmp_path):
    from tixel.commands.train import run_dir_for
    from tixel.core.config import validate
    from tixel.core.errors import TixelError

    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "precious.txt").write_text("not a run")
    with pytest.raises(TixelError, match="already exists"):
        run_dir_for(validate(tiny_raw), None)
    tiny_raw["output"]["overwrite"] = True
    with pytest.raises(TixelError, match="not a tixel run folder"):
        run_dir_for(validate(tiny_raw), None)
    (run / "config.yaml").write_text("{}")
    assert run_dir_for(validate(tiny_raw), None) == run and not run.exists()


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormals_is_applied_while_training_and_predicting(tiny_raw, flush):
    from tixel.core.device import flushing_denormals
    from tixel.engine.loop import Step
    from tixel.engine.predict import Predictor

    before = flushing_denormals()
    tiny_raw["train"].update(epochs=1, flush_denormals=flush)
    seen = []
    result = train(validate(tiny_raw), progress=False, log=lambda *_: None,
                   on_event=lambda job, event: seen.append(flushing_denormals()) if isinstance(event, Step) else None)
    assert seen and set(seen) == {flush}
    assert flushing_denormals() == before  # restored after the run
    predictor = Predictor.load(result.bundle_dir)
    during = []
    model = predictor.bundle.model
    model.register_forward_hook(lambda *_: during.append(flushing_denormals()))
    predictor.predict([np.zeros((8, 8, 1), np.uint8)])
    assert during == [flush] and flushing_denormals() == before
