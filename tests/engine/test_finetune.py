"""train.finetune: full, frozen, LoRA and IA3 train exactly the tensors they should; adapter bundles
store only the adapter and head, and merge into a plain bundle that predicts the same."""
import pytest
import torch
from text_data import text_config

from tixel.commands.export import merge_bundle
from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import ConfigError
from tixel.engine.finetune import apply_finetune, parameter_groups
from tixel.engine.predict import Predictor
from tixel.tasks import create_task

MINILM = {"type": "transformer", "pretrained": "minilm-l6"}
TEXTS = ["the film was wonderful", "a boring plot and tedious actors"]


def minilm_cfg(tmp_path, **finetune):
    raw = text_config(tmp_path, MINILM, n=48, epochs=1, batch_size=8, lr=1e-3, finetune=finetune)
    raw["data"]["tokenizer"] = {"max_length": 24}
    return validate(raw)


def trained(cfg):
    """The in-memory model at the end of training, and a fresh one built the same way (same seed)."""
    seen = {}
    result = train(cfg, progress=False, log=lambda *_: None, on_event=lambda job, _: seen.update(model=job.model))
    torch.manual_seed(cfg.seed)
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    fresh = apply_finetune(task.build_model(cfg, prepared.labels, prepared.preprocessing), cfg.train.finetune)
    return result, seen["model"], fresh


def changed(after, before) -> dict[str, bool]:
    b = dict(before.named_parameters())
    return {n: not torch.equal(p.detach(), b[n].detach()) for n, p in after.named_parameters()}


@pytest.mark.parametrize("mode", ["full", "frozen", "lora", "ia3"])
def test_each_mode_trains_only_its_parameters(tmp_path, mode):
    result, after, before = trained(minilm_cfg(tmp_path, mode=mode))
    moved = changed(after, before)
    head = {n: c for n, c in moved.items() if n.startswith("head")}
    adapter = {n: c for n, c in moved.items() if "lora_" in n or "ia3_" in n}
    base = {n: c for n, c in moved.items() if n not in head and n not in adapter}
    assert any(head.values())
    if mode == "full":
        assert sum(base.values()) > len(base) / 2
    else:
        assert not any(base.values())  # the pretrained weights never moved
    assert (any(adapter.values()) if mode in ("lora", "ia3") else not adapter)
    trainable = sum(p.numel() for p in after.parameters() if p.requires_grad)
    total = sum(p.numel() for p in after.parameters())
    if mode in ("lora", "ia3"):
        assert trainable / total < 0.03
        full_size = sum(p.numel() * 4 for p in before.parameters())
        assert (result.bundle_dir / "model.safetensors").stat().st_size < 0.05 * full_size


def test_lora_bundle_round_trips_and_merges_to_the_same_predictions(tmp_path):
    result = train(minilm_cfg(tmp_path, mode="lora", rank=4), progress=False, log=lambda *_: None)
    adapter = Predictor.load(result.run_dir)
    merged_dir = merge_bundle(result.run_dir, tmp_path / "merged")
    merged = Predictor.load(merged_dir)
    assert merged.bundle.meta["weights"] == "full" and merged.bundle.config.train.finetune.mode == "full"
    assert not any("lora_" in n for n in merged.bundle.model.state_dict())
    torch.testing.assert_close(merged.probabilities(TEXTS), adapter.probabilities(TEXTS), atol=1e-5, rtol=0)
    assert (merged_dir / "model.safetensors").stat().st_size > 20 * (result.bundle_dir / "model.safetensors").stat().st_size


def test_layer_decay_gives_lower_rates_further_from_the_head(tmp_path):
    cfg = minilm_cfg(tmp_path, layer_decay=0.5)
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    groups = parameter_groups(model, 1e-3, cfg.train.finetune)
    rates = sorted(g["lr"] for g in groups)
    assert rates[-1] == 1e-3 and rates[0] == pytest.approx(1e-3 * 0.5 ** 7)  # 6 layers, embeddings one below
    named = {id(p): n for n, p in model.named_parameters()}
    top = next(g for g in groups if g["lr"] == 1e-3)
    assert all(named[id(p)].startswith("head") or ".layer." not in named[id(p)] for p in top["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize("encoder, words", [
    ({"type": "rnn", "embedding_dim": 16, "hidden_size": 16}, "model.encoder.type: transformer"),
    ({"type": "transformer", "hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64}, "pretrained"),
])
def test_lora_needs_a_pretrained_transformer(tmp_path, encoder, words):
    cfg = validate(text_config(tmp_path, encoder, epochs=1, finetune={"mode": "lora"}))
    with pytest.raises(ConfigError, match=words):
        train(cfg, progress=False, log=lambda *_: None)


def test_gradual_unfreezing_releases_one_group_per_epoch_from_the_top(tiny_raw):
    from tixel.engine.loop import EpochEnd

    tiny_raw["data"]["image"] = {"size": [12, 12]}
    tiny_raw["model"]["encoder"]["blocks"] = [{"channels": 4, "padding": 1}, {"channels": 6, "padding": 1}]
    tiny_raw["train"].update(epochs=3, finetune={"gradual_unfreeze": True})
    cfg = validate(tiny_raw)
    snapshots = []

    def keep(job, event):
        if isinstance(event, EpochEnd):
            snapshots.append({k: v.clone() for k, v in job.model.state_dict().items()})

    train(cfg, progress=False, log=lambda *_: None, on_event=keep)
    torch.manual_seed(cfg.seed)
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    start = task.build_model(cfg, prepared.labels, prepared.preprocessing).state_dict()
    moved = lambda a, b, prefix: any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))  # noqa: E731
    top, bottom = "encoder.blocks.1.", "encoder.blocks.0."
    assert moved(start, snapshots[0], "head.")
    assert not moved(start, snapshots[0], top) and not moved(start, snapshots[0], bottom)  # epoch 1: the head only
    assert moved(snapshots[0], snapshots[1], top) and not moved(snapshots[0], snapshots[1], bottom)
    assert moved(snapshots[1], snapshots[2], bottom)  # epoch 3: everything
    with pytest.raises(ConfigError, match="gradual_unfreeze .* needs mode full"):
        validate({**tiny_raw, "train": {**tiny_raw["train"], "finetune": {"gradual_unfreeze": True, "mode": "frozen"}}})
