import torch
from safetensors.torch import load_file
from tiny import stop_after

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.io import load_checkpoint
from tixel.engine.loop import Interrupted

QUIET = dict(progress=False, log=lambda *_: None)


def final_weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_resumed_run_equals_uninterrupted_run(tiny_raw):
    tiny_raw["train"]["epochs"] = 3
    full = train(validate(tiny_raw), **QUIET)

    tiny_raw["output"]["name"] = "interrupted"
    cfg = validate(tiny_raw)
    try:
        train(cfg, on_event=stop_after(1, 3), **QUIET)  # mid-epoch 2
        raise AssertionError("the run should have been interrupted")
    except Interrupted as stop:
        run_dir = stop.args[0]
    ckpt = load_checkpoint(f"{run_dir}/checkpoints/last.pt")
    assert ckpt["state"]["epoch"] == 1 and ckpt["state"]["step"] == 3
    resumed = train(cfg, resume=run_dir, **QUIET)

    a, b = final_weights(full.run_dir), final_weights(resumed.run_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    strip = lambda h: [{k: v for k, v in row.items() if k not in ("samples_per_s", "epoch_time_s")} for row in h]
    assert strip(full.history) == strip(resumed.history)
    assert resumed.test_metrics == full.test_metrics


def test_interrupt_at_epoch_boundary_resumes_too(tiny_raw):
    cfg = validate(tiny_raw)
    try:
        train(cfg, on_event=stop_after(1, 0), **QUIET)
    except Interrupted as stop:
        run_dir = stop.args[0]
    resumed = train(cfg, resume=run_dir, **QUIET)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_resume_refuses_a_different_experiment(tiny_raw):
    import pytest

    from tixel.core.errors import ConfigError

    first = train(validate(tiny_raw), **QUIET)
    tiny_raw["train"]["lr"] = 0.1
    tiny_raw["train"]["epochs"] = 4  # allowed to change
    with pytest.raises(ConfigError, match=r"differs from the run's in train.lr$"):
        train(validate(tiny_raw), resume=str(first.run_dir), **QUIET)


def test_run_folder_contents(tiny_raw):
    result = train(validate(tiny_raw), **QUIET)
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "checkpoints", "bundle", "report"} <= names
    lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    best = load_file(str(result.run_dir / "checkpoints" / "best.safetensors"))
    bundle = load_file(str(result.bundle_dir / "model.safetensors"))
    assert all(torch.equal(best[k], bundle[k]) for k in best)
    assert not [p for p in result.run_dir.rglob("*.tmp")]


def resumed_equals_uninterrupted(raw: dict, epochs: int, stop: tuple[int, int]) -> None:
    """Train `raw` for `epochs` epochs, and again stopped after `stop` = (epochs, batches) and resumed:
    the same final weights, history and test metrics."""
    import copy

    raw = copy.deepcopy(raw)
    raw["train"]["epochs"] = epochs
    full = train(validate(raw), **QUIET)
    raw["output"] = {**raw["output"], "name": raw["output"]["name"] + "-stopped"}
    cfg = validate(raw)
    try:
        train(cfg, on_event=stop_after(*stop), **QUIET)
        raise AssertionError("the run should have been interrupted")
    except Interrupted as stopped:
        run_dir = stopped.args[0]
    resumed = train(cfg, resume=run_dir, **QUIET)
    a, b = final_weights(full.run_dir), final_weights(resumed.run_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in row.items() if k not in ("samples_per_s", "epoch_time_s")} for row in h]
    assert strip(full.history) == strip(resumed.history)
    assert resumed.test_metrics == full.test_metrics


def test_ner_run_resumes_exactly(tmp_path):
    """seqeval's numpy floats once reached the checkpoint, which a weights-only load refuses."""
    from ner_data import ner_config

    raw = ner_config(tmp_path, {"type": "rnn", "embedding_dim": 16, "hidden_size": 16, "bidirectional": True})
    resumed_equals_uninterrupted(raw, 3, (1, 4))


def test_text_run_resumes_exactly(tmp_path):
    from text_data import text_config

    raw = text_config(tmp_path, {"type": "rnn", "embedding_dim": 16, "hidden_size": 16}, n=160)
    # a word vocabulary: the tokenizers WordPiece trainer breaks ties in hash order, so two separate runs
    # can fit different vocabularies (a resumed run reads its own back from RUN/preprocessing)
    raw["data"]["tokenizer"] = {"kind": "word", "vocab_size": 200, "max_length": 32}
    resumed_equals_uninterrupted(raw, 3, (1, 2))


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tiny_raw):
    """Issue 25, item 2: the folder held config.yaml and no checkpoint; --resume refused it and a plain
    rerun said it exists."""
    cfg = validate(tiny_raw)
    full = train(cfg, **QUIET)
    import shutil

    shutil.rmtree(full.run_dir / "checkpoints")
    for name in ("bundle", "report", "metrics.jsonl"):
        shutil.rmtree(full.run_dir / name, ignore_errors=True) if name != "metrics.jsonl" else (full.run_dir / name).unlink()
    lines = []
    again = train(cfg, resume=str(full.run_dir), progress=False, log=lines.append)
    assert any("no checkpoint yet" in line for line in lines)
    assert again.test_metrics == full.test_metrics  # the same seed, from the same start
