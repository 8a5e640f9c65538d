"""The RNN language-model objective: neither direction sees the token it predicts, a run lowers the
loss and writes an encoder folder with its tokenizer, and text classification fine-tunes from it."""
import pytest
import torch
from test_mlm import corpus
from text_data import sentiment_rows, text_config

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import ConfigError
from tixel.tasks import create_task

QUIET = dict(progress=False, log=lambda *_: None)
BILSTM = {"type": "rnn", "embedding_dim": 16, "hidden_size": 24, "bidirectional": True}


def lm_raw(tmp_path, encoder=BILSTM, epochs=3):
    lines = tmp_path / "corpus.txt"
    texts = corpus(400) + [r["text"] for r in sentiment_rows(200, seed=7)]
    lines.write_text("".join(t + "\n" for t in texts))
    return {"task": "language_model", "seed": 0,
            "data": {"format": "unlabelled_text", "train": str(lines), "split": {"validation": 0.1, "test": 0.0},
                     "tokenizer": {"kind": "word", "vocab_size": 300, "max_length": 32}},
            "model": {"encoder": encoder},
            "train": {"epochs": epochs, "batch_size": 32, "lr": 0.01, "monitor": "val_loss"},
            "output": {"dir": str(tmp_path / "runs"), "name": "lm"}}


def test_no_direction_sees_the_token_it_predicts(tmp_path):
    cfg = validate(lm_raw(tmp_path))
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing).eval()
    batch = prepared.preprocessing.apply(["the red apple is on the table"])
    logits = model(batch)
    _, labels = task.transform((batch, None))
    t = int(batch["lengths"][0])
    changed = dict(batch, input_ids=batch["input_ids"].clone())
    changed["input_ids"][0, 3] = 1  # another token at position 3
    logits2 = model(changed)
    width = batch["input_ids"].shape[1] - 1
    forward_moved = (logits[0, :width] - logits2[0, :width]).abs().sum(-1) > 1e-6
    backward_moved = (logits[0, width:] - logits2[0, width:]).abs().sum(-1) > 1e-6
    # forward position p predicts token p + 1 from tokens <= p: changing token 3 moves p >= 3 only
    assert not forward_moved[:3].any() and forward_moved[3:t - 1].all()
    # backward row j (position j + 1) predicts token j from tokens >= j + 1: token 3 moves j <= 2 only
    assert backward_moved[:3].all() and not backward_moved[3:].any()
    assert (labels[0, :width][: t - 1] == batch["input_ids"][0, 1:t]).all()


def test_a_stacked_bidirectional_encoder_is_refused(tmp_path):
    raw = lm_raw(tmp_path, {**BILSTM, "layers": 2})
    with pytest.raises(ConfigError, match="bidirectional encoder needs layers: 1"):
        create_task("language_model", validate(raw))


def test_pretraining_then_finetuning_from_the_folder(tmp_path):
    from safetensors.torch import load_file

    result = train(validate(lm_raw(tmp_path)), **QUIET)
    val = [row["val_perplexity"] for row in result.history]
    assert val[-1] < val[0] * 0.7
    folder = result.run_dir / "encoder"
    assert {p.name for p in folder.iterdir()} == {"encoder.json", "encoder.safetensors", "preprocessing.json"}
    raw = text_config(tmp_path, {"type": "rnn", "from": str(folder), "pooling": "attention"}, epochs=1)
    cfg = validate(raw)
    assert cfg.model.encoder.hidden_size == 24 and cfg.model.encoder.bidirectional  # from the folder
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    assert prepared.preprocessing.vocab() == result_vocab(folder)  # the folder's tokenizer, not a new fit
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    saved = load_file(str(folder / "encoder.safetensors"))
    for name, tensor in saved.items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    assert train(cfg, **QUIET).test_metrics["accuracy"] > 0


def result_vocab(folder):
    from tixel.data import preprocessors

    return preprocessors.load(folder, "text").vocab()
