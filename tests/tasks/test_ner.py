import json
import os
import subprocess
import sys

import pytest
import torch
from bundles import moved
from ner_data import ner_config, write_chinese

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.engine.predict import Predictor

QUIET = dict(progress=False, log=lambda *_: None)
RNN = {"type": "rnn", "embedding_dim": 32, "hidden_size": 32, "bidirectional": True,
       "char_features": {"dim": 8, "filters": 16}, "casing": True}


@pytest.fixture(scope="module")
def rnn_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    return train(validate(ner_config(tmp, RNN, epochs=6)), **QUIET)


def test_bilstm_crf_learns_entities_and_reports(rnn_run):
    assert rnn_run.test_metrics["f1"] >= 0.9
    report = json.loads((rnn_run.report_dir / "report.json").read_text())
    assert {"PER", "LOC", "micro avg"} <= set(report["entity"])
    assert "O" in report["token"] and "weighted avg" in report["token"]
    assert "entity level" in (rnn_run.report_dir / "report.txt").read_text()


def test_bundle_round_trip_and_english_offsets(rnn_run):
    text = "yesterday Angela Merkel visited New York with Peter"
    first, again = Predictor(rnn_run.trained), Predictor.load(moved(rnn_run.bundle_dir))
    rows = first.predict([text, "", "the a"])
    assert rows == again.predict([text, "", "the a"])
    found = rows[0]["entities"]
    assert [(e["text"], e["type"]) for e in found] == [("Angela Merkel", "PER"), ("New York", "LOC"), ("Peter", "PER")]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in found)
    assert rows[1]["entities"] == []


def test_long_sentence_is_windowed_not_truncated(rnn_run):
    predictor = Predictor.load(rnn_run.bundle_dir)
    pre = predictor.bundle.preprocessing
    pre.max_length = 8  # force several windows over one sentence
    words = ("the met Paris and " * 6).split()
    inputs = pre.encode([words])
    assert len(inputs["lengths"]) > 1 and int(inputs["owned"].sum()) == len(words)
    tags, _ = predictor.bundle.task.decode(predictor.bundle.model, inputs, predictor.bundle.labels.names, 4, torch.device("cpu"))
    assert len(tags[0]) == len(words)
    assert [t for w, t in zip(words, tags[0]) if w == "Paris"] == ["B-LOC"] * 6


def test_chinese_char_tagger_offsets(tmp_path):
    write_chinese(tmp_path / "zh.txt", 300)
    encoder = {"type": "rnn", "embedding_dim": 32, "hidden_size": 32, "bidirectional": True}
    cfg = ner_config(tmp_path, encoder, epochs=6, train=str(tmp_path / "zh.txt"), delimiter="\t",
                     split={"validation": 0.1, "test": 0.1})
    result = train(validate(cfg), **QUIET)
    assert result.test_metrics["f1"] >= 0.9
    text = "我今天在北京看见王伟"
    found = Predictor.load(result.bundle_dir).predict([text])[0]["entities"]
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in found] == [("北京", "LOC", 4, 6), ("王伟", "PER", 8, 10)]


def test_tiny_transformer_tagger_trains(tmp_path):
    encoder = {"type": "transformer", "hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64}
    cfg = ner_config(tmp_path, encoder, epochs=8, scheme="bioes", tokenizer={"kind": "wordpiece", "vocab_size": 200})
    cfg["model"]["head"] = {"crf": False}
    cfg["train"]["lr"] = 0.003
    result = train(validate(cfg), **QUIET)
    assert result.test_metrics["f1"] >= 0.8


def test_subword_alignment_with_minilm_tokenizer():
    from tixel.data.pretrained import resolve
    from tixel.data.tag_preprocess import TaggingPreprocessing
    from tixel.data.tokenize import load_tokenizer

    tok = load_tokenizer(resolve("minilm-l6"))
    pre = TaggingPreprocessing(tok, max_length=12, stride=2)
    words = "Unbelievably , Schwarzenegger visited Wuppertal and Tokyo yesterday".split()
    inputs = pre.encode([words])
    assert int(inputs["owned"].sum()) == len(words) and len(inputs["lengths"]) > 1
    for row in range(len(inputs["lengths"])):
        ids = inputs["input_ids"][row]
        assert tok.id_to_token(int(ids[0])) == "[CLS]"
        start = int(inputs["offset"][row])
        for j in range(int(inputs["word_lengths"][row])):
            first = tok.id_to_token(int(ids[inputs["word_index"][row, j]]))
            expected = tok.encode(words[start + j], add_special_tokens=False).tokens[0]
            assert first == expected  # the label sits on the word's first sub-token


def test_cli_predict_jsonl_entities(rnn_run):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "tixel.cli", "predict", str(rnn_run.run_dir), "--format", "jsonl",
                          "--text", "we met Mary Ann Smith in Berlin"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.splitlines()[-1])
    assert [(e["text"], e["type"]) for e in row["entities"]] == [("Mary Ann Smith", "PER"), ("Berlin", "LOC")]


def test_crf_weights_in_bundle(rnn_run):
    from safetensors.torch import load_file

    weights = load_file(str(rnn_run.bundle_dir / "model.safetensors"))
    assert "crf.transitions" in weights and not torch.isnan(weights["crf.transitions"]).any()


def test_evaluate_on_another_labelled_conll_file(rnn_run, tmp_path):
    from ner_data import write_conll

    from tixel.commands.evaluate import evaluate_bundle

    write_conll(tmp_path / "other.txt", 30, seed=7)
    result = evaluate_bundle(str(rnn_run.run_dir), data=str(tmp_path / "other.txt"), out_dir=str(tmp_path / "rep"))
    assert result["metrics"]["f1"] >= 0.9 and (tmp_path / "rep" / "report.json").exists()
