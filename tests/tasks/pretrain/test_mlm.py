"""Masked-LM pretraining: BERT's masking statistics, a run that lowers the loss and fine-tunes from its
encoder folder, and an interrupted run that resumes to the same weights."""
import json

import torch
from text_data import sentiment_rows, text_config, write_jsonl

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.io import load_checkpoint
from tixel.engine.loop import Interrupted, Step
from tixel.tasks.pretrain.mlm import Masker, PretrainConfig

QUIET = dict(progress=False, log=lambda *_: None)
SMALL = {"type": "transformer", "hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64}


PAIRS = [("red", "apple"), ("yellow", "banana"), ("green", "grape"), ("orange", "carrot"), ("purple", "plum")]
PLACES = ["table", "shelf", "floor", "chair", "plate"]


def corpus(n: int) -> list[str]:
    """Sentences in which most words follow from the others (a colour from its fruit, and back)."""
    import random

    rng = random.Random(7)
    return [f"the {c} {f} is on the {rng.choice(PLACES)}" for c, f in (rng.choice(PAIRS) for _ in range(n))]


def mlm_raw(tmp_path, n=400, **train_cfg):
    lines = tmp_path / "corpus.txt"
    texts = corpus(n) + [r["text"] for r in sentiment_rows(n // 2, seed=7)]  # the fine-tuning words too
    lines.write_text("".join(t + "\n" for t in texts))
    return {"task": "masked_lm", "seed": 0,
            "data": {"format": "unlabelled_text", "train": str(lines), "split": {"validation": 0.1, "test": 0.0},
                     "tokenizer": {"vocab_size": 200, "max_length": 32}},
            "model": {"encoder": SMALL},
            "train": {"epochs": 3, "batch_size": 32, "lr": 0.003, "monitor": "val_loss", **train_cfg},
            "output": {"dir": str(tmp_path / "runs"), "name": "mlm"}}


def test_masking_follows_the_80_10_10_rule():
    from tixel.data import tokenize
    from tixel.data.text import CleanConfig, TokenizerConfig
    from tixel.data.text_preprocess import TextPreprocessing

    texts = [r["text"] for r in sentiment_rows(300)]
    tok = tokenize.train_tokenizer(texts, TokenizerConfig(vocab_size=200))
    pre = TextPreprocessing(tok, CleanConfig(), 64)
    masker = Masker(pre, PretrainConfig(mask_probability=0.15))
    batch = pre.apply(texts * 20)
    torch.manual_seed(0)
    out, labels = masker(batch)
    real = (batch["attention_mask"] == 1) & ~torch.isin(batch["input_ids"], masker.special)
    chosen = labels != -100
    assert not (chosen & ~real).any()  # never padding, [CLS] or [SEP]
    assert abs(chosen.sum() / real.sum() - 0.15) < 0.01
    mask_id = masker.tokenizer.mask_token_id
    as_mask = (out["input_ids"] == mask_id) & chosen
    kept = (out["input_ids"] == batch["input_ids"]) & chosen
    assert abs(as_mask.sum() / chosen.sum() - 0.8) < 0.02
    assert abs(kept.sum() / chosen.sum() - 0.1) < 0.02  # (a random token can also draw the original)
    assert torch.equal(labels[chosen], batch["input_ids"][chosen])


def test_pretrain_lowers_the_loss_and_fine_tunes_from_its_encoder(tmp_path):
    result = train(validate(mlm_raw(tmp_path)), **QUIET)
    losses = [row["val_loss"] for row in result.history]
    assert losses[-1] < losses[0] and result.test_metrics["accuracy"] > 0.4
    folder = result.run_dir / "encoder"
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == 2
    raw = text_config(tmp_path, {"type": "transformer", "from": str(folder)}, epochs=5, lr=0.003)  # = pretrained
    raw["data"]["tokenizer"] = {"max_length": 32}  # kind auto: the pretrained folder's own tokenizer
    tuned = train(validate(raw), **QUIET)
    assert tuned.test_metrics["accuracy"] >= 0.7
    assert_continued_pretraining_starts_where_it_stopped(tmp_path, folder, min(losses))  # the best epoch is kept


def assert_continued_pretraining_starts_where_it_stopped(tmp_path, folder, last_val_loss):
    """`pretrained: RUN/encoder` under masked_lm reloads the MLM head too: the held-out loss is unchanged."""
    from tixel.tasks import create_task

    raw = mlm_raw(tmp_path)
    raw["model"]["encoder"] = {"type": "transformer", "pretrained": str(folder)}
    raw["data"]["tokenizer"] = {"kind": "pretrained", "path": str(folder), "max_length": 32}
    cfg = validate(raw)
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    start = task.validate(model, prepared.splits["validation"], 64, torch.device("cpu"))
    assert abs(start["loss"] - last_val_loss) < 1e-4, (start["loss"], last_val_loss)


def test_resumed_pretraining_equals_an_uninterrupted_run(tmp_path):
    raw = mlm_raw(tmp_path, n=160, epochs=2)
    # word-level: two fits of one corpus give one vocabulary (WordPiece's may differ, see prepare_run), so
    # the uninterrupted reference and the interrupted run start from the same tokens
    raw["data"]["tokenizer"]["kind"] = "word"
    full = train(validate(raw), **QUIET)
    raw["output"]["name"] = "interrupted"
    cfg = validate(raw)

    def stop(job, event):
        if isinstance(event, Step) and job.state.global_step == len(job.train) + 2:
            job.stop_requested = True
    try:
        train(cfg, on_event=stop, **QUIET)
        raise AssertionError("the run should have been interrupted")
    except Interrupted as err:
        run_dir = err.args[0]
    resumed = train(cfg, resume=run_dir, **QUIET)
    a = load_checkpoint(full.run_dir / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(resumed.run_dir / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unlabelled_reader_takes_lines_folders_and_columns(tmp_path):
    import pytest

    from tixel.core.errors import DataError
    from tixel.data.unlabelled import read_unlabelled

    (tmp_path / "a.txt").write_text("one document\n\nanother one\n")
    assert read_unlabelled(str(tmp_path / "a.txt"), None, 1).texts == ["one document", "another one"]
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(f"document {i}\nwith two lines")
    assert len(read_unlabelled(str(folder), None, 1)) == 3
    write_jsonl(tmp_path / "b.jsonl", [{"body": "x y z"}, {"body": "a b"}])
    assert read_unlabelled(str(tmp_path / "b.jsonl"), "body", 4).texts == ["x y z"]
    (tmp_path / "c.tsv").write_text('label\tsentence\n0\ta "quoted bare\n1\tnext row\n')
    assert read_unlabelled(str(tmp_path / "c.tsv"), "sentence", 1, quoting=False).texts == ['a "quoted bare', "next row"]
    with pytest.raises(DataError, match="no such file"):
        read_unlabelled(str(tmp_path / "missing.txt"), None, 1)


def test_cli_pretrain_runs_and_refuses_a_supervised_config(tmp_path):
    import subprocess
    import sys

    import yaml

    raw = mlm_raw(tmp_path, n=120, epochs=1)
    (tmp_path / "mlm.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "tixel", "pretrain", str(tmp_path / "mlm.yaml"), "--no-progress"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "mlm" / "encoder" / "model.safetensors").is_file()
    sup = text_config(tmp_path, SMALL, epochs=1)
    (tmp_path / "sup.yaml").write_text(yaml.safe_dump(sup))
    refused = subprocess.run([sys.executable, "-m", "tixel", "pretrain", str(tmp_path / "sup.yaml")],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "tixel train" in refused.stderr


def test_the_head_scores_only_masked_positions_with_the_loss_of_scoring_all():
    from tixel.tasks.pretrain.common import token_loss
    from tixel.tasks.pretrain.mlm import MaskedLM

    class Encoder(torch.nn.Module):  # stands in for the transformer: only its sequence output is read
        def __init__(self):
            super().__init__()
            self.backbone = type("B", (), {"config": __import__("transformers").BertConfig(
                hidden_size=8, vocab_size=30, intermediate_size=16, num_attention_heads=2)})()
            self.proj = torch.nn.Embedding(30, 8)

        def sequence(self, batch):
            return self.proj(batch["input_ids"])

    torch.manual_seed(0)
    model = MaskedLM(Encoder())
    ids = torch.randint(0, 30, (3, 7))
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[1, 4], labels[2, 6], labels[2, 0] = 5, 9, 2, 11
    logits, loss = model({"input_ids": ids}, labels)
    every = model({"input_ids": ids})
    assert logits.shape == (4, 30) and every.shape == (3, 7, 30)
    picked = torch.tensor([5, 9, 11, 2])  # the labels in row-major order
    assert torch.allclose(logits, every[labels != -100])
    assert torch.allclose(loss, token_loss(every, labels), atol=1e-6)
    assert torch.allclose(loss, token_loss(logits, picked), atol=1e-6)
