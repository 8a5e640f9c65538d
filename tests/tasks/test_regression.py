"""Text regression: a number per text, learnt from generated reviews whose rating follows their words."""
import json

import pytest
from bundles import moved
from text_data import sentiment_rows, write_jsonl

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.core.errors import DataError
from tixel.engine.predict import Predictor

QUIET = dict(progress=False, log=lambda *_: None)


def rated_config(tmp_path, rows) -> dict:
    return {"task": "text_regression", "seed": 0,
            "data": {"format": "jsonl", "train": write_jsonl(tmp_path / "rated.jsonl", rows),
                     "split": {"validation": 0.2, "test": 0.2}, "tokenizer": {"vocab_size": 200, "max_length": 32}},
            "model": {"encoder": {"type": "rnn", "embedding_dim": 16, "hidden_size": 16}},
            "train": {"epochs": 8, "batch_size": 16, "lr": 0.01, "monitor": "val_mae"},
            "output": {"dir": str(tmp_path / "runs"), "name": "rated"}}


def test_text_regression_learns_reports_and_round_trips(tmp_path):
    rows = [{"text": r["text"], "label": 4.0 if r["label"] == "pos" else 1.0} for r in sentiment_rows(240)]
    result = train(validate(rated_config(tmp_path, rows)), **QUIET)
    m = result.test_metrics
    assert m["mae"] < 0.75 and m["r2"] > 0.5  # predicting the mean gives MAE 1.5 and R2 0
    assert json.loads((result.report_dir / "metrics.json").read_text())["rmse"] == pytest.approx(m["rmse"])
    texts = ["the film was wonderful", "a boring plot and tedious actors"]
    first, again = Predictor(result.trained).predict(texts), Predictor.load(moved(result.bundle_dir)).predict(texts)
    assert first == again and first[0]["value"] > 2.5 > first[1]["value"]


def test_a_label_that_is_not_a_number_is_named(tmp_path):
    rows = [{"text": r["text"], "label": "3"} for r in sentiment_rows(20)] + [{"text": "fine", "label": "good"}]
    with pytest.raises(DataError, match=r"rated.jsonl, line 21: label 'good' is not a number"):
        train(validate(rated_config(tmp_path, rows)), **QUIET)
