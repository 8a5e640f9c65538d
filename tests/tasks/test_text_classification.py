import json
import os
import subprocess
import sys

import pytest
import torch
from bundles import moved
from text_data import sentiment_rows, text_config, write_jsonl

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import ConfigError
from tixel.engine.predict import Predictor

QUIET = dict(progress=False, log=lambda *_: None)
TINY_TRANSFORMER = {"type": "transformer", "hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64}


def test_tiny_transformer_learns_and_round_trips(tmp_path):
    result = train(validate(text_config(tmp_path, TINY_TRANSFORMER, epochs=6, lr=0.003)), **QUIET)
    assert result.test_metrics["accuracy"] >= 0.85  # one sentiment word decides each generated text
    texts = ["the film was wonderful", "a boring plot and tedious actors"]
    first, again = Predictor(result.trained), Predictor.load(moved(result.bundle_dir))
    assert torch.allclose(first.probabilities(texts), again.probabilities(texts), atol=1e-6)
    assert [r["label"] for r in first.predict(texts)] == ["pos", "neg"]
    ids = first.bundle.preprocessing.apply(texts)["input_ids"]
    assert torch.equal(ids, again.bundle.preprocessing.apply(texts)["input_ids"])


@pytest.mark.parametrize("encoder", [
    {"type": "rnn", "bidirectional": True, "pooling": "attention", "embedding_dim": 32, "hidden_size": 32},
    {"type": "text_cnn", "embedding_dim": 32, "filters": 16, "widths": [2, 3]},
])
def test_rnn_and_text_cnn_train(tmp_path, encoder):
    result = train(validate(text_config(tmp_path, encoder, epochs=5)), **QUIET)
    assert result.test_metrics["accuracy"] >= 0.85


def test_multi_label(tmp_path):
    rows = []
    for i, r in enumerate(sentiment_rows(240)):
        long = len(r["text"].split()) > 8
        r["label"] = [r["label"]] + (["long"] if long else [])
        rows.append(r)
    raw = text_config(tmp_path, {"type": "rnn", "embedding_dim": 32, "hidden_size": 32, "pooling": "mean"},
                      epochs=8, monitor="val_macro_f1")
    raw["data"].update(train=write_jsonl(tmp_path / "ml.jsonl", rows), multi_label=True)
    result = train(validate(raw), **QUIET)
    assert result.test_metrics["macro_f1"] > 0.6
    predictor = Predictor.load(result.run_dir)
    row = predictor.predict(["the film was great fun"])[0]
    assert "labels" in row and set(row["labels"]) <= {"pos", "neg", "long"}
    assert predictor.bundle.task.multi_label


def test_predict_cli_text_input_and_stdin(tmp_path):
    result = train(validate(text_config(tmp_path, {"type": "text_cnn", "embedding_dim": 16, "filters": 8},
                                        epochs=2)), **QUIET)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "tixel", "predict", str(result.run_dir), "--format", "jsonl"]
    by_text = subprocess.run(cli + ["--text", "a great film", "--text", "boring"], capture_output=True,
                             text=True, env=env)
    assert by_text.returncode == 0, by_text.stderr
    assert [json.loads(l)["input"] for l in by_text.stdout.splitlines()] == ["a great film", "boring"]
    (tmp_path / "in.csv").write_text("id,review\n1,a great film\n2,so dull\n")
    by_file = subprocess.run(cli + ["--input", str(tmp_path / "in.csv"), "--column", "review"],
                             capture_output=True, text=True, env=env)
    assert len(by_file.stdout.splitlines()) == 2, by_file.stderr
    by_stdin = subprocess.run(cli, input="one text\nanother text\n", capture_output=True, text=True, env=env)
    rows = [json.loads(l) for l in by_stdin.stdout.splitlines()]
    assert [r["input"] for r in rows] == ["one text", "another text"]
    assert all(abs(sum(t["prob"] for t in r["top_k"]) - 1) < 1e-3 for r in rows)  # 2 labels, top-3


def test_evaluate_on_another_labelled_file(tmp_path):
    from tixel.commands.evaluate import evaluate_bundle

    result = train(validate(text_config(tmp_path, {"type": "text_cnn", "embedding_dim": 16, "filters": 8},
                                        epochs=3)), **QUIET)
    other = write_jsonl(tmp_path / "other.jsonl", sentiment_rows(40, seed=7))
    out = evaluate_bundle(str(result.run_dir), data=other, out_dir=str(tmp_path / "rep"))
    assert out["metrics"]["accuracy"] > 0.7
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["macro avg"]["support"] == 40
    # a fitted field comes from the bundle alone: overriding it is refused by name, the data split is not
    with pytest.raises(ConfigError, match=r"--set data.tokenizer.max_length: fixed when .* was trained"):
        evaluate_bundle(str(result.run_dir), ["data.tokenizer.max_length=8"], out_dir=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match=r"--set model.encoder.filters"):
        evaluate_bundle(str(result.run_dir), ["model.encoder.filters=4"], out_dir=str(tmp_path / "x"))
    again = evaluate_bundle(str(result.run_dir), ["data.split.seed=3"], out_dir=str(tmp_path / "rep2"))
    assert 0 <= again["metrics"]["accuracy"] <= 1
