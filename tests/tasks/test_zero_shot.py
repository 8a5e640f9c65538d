import json
import os
import subprocess
import sys

import pytest
import torch
from bundles import moved
from text_data import write_jsonl

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.engine.predict import Predictor

QUIET = dict(progress=False, log=lambda *_: None)
ROWS = [("The striker scored twice and the team won the league match", "sport"),
        ("The tennis champion won the final in straight sets", "sport"),
        ("Parliament voted on the new election law and the prime minister resigned", "politics"),
        ("The senate passed the government's budget after a long debate", "politics"),
        ("The new smartphone has a faster processor and a better camera", "technology"),
        ("Engineers released open-source software for cloud computing", "technology")]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIXEL_CACHE_DIR", str(tmp_path / "cache"))


def zero_shot_cfg(tmp_path, **zero_shot):
    path = tmp_path / "d.jsonl"
    write_jsonl(path, [{"text": t, "label": y} for t, y in ROWS])
    return validate({"task": "zero_shot_classification",
                     "data": {"format": "jsonl", "train": str(path), "split": {"validation": 0, "test": 0}},
                     "model": {"encoder": {"type": "transformer", "pretrained": "minilm-l6"}},
                     "zero_shot": zero_shot,
                     "output": {"dir": str(tmp_path / "runs"), "name": "zs"}})


def test_zero_shot_run_writes_report_and_bundle_that_round_trips(tmp_path):
    result = train(zero_shot_cfg(tmp_path, templates=["This text is about {label}."]), **QUIET)
    assert result.test_metrics["accuracy"] >= 5 / 6
    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["labels"] == ["politics", "sport", "technology"]
    again = Predictor.load(moved(result.bundle_dir))
    texts = [t for t, _ in ROWS]
    assert torch.allclose(again.probabilities(texts), Predictor(result.trained).probabilities(texts), atol=1e-6)
    assert [r["label"] for r in again.predict(texts)] == [y for _, y in ROWS]


def test_templates_are_averaged_and_descriptions_used():
    from tixel.tasks.zero_shot import ZeroShotConfig, label_matrix, label_texts

    cfg = ZeroShotConfig(labels={"pos": "good", "neg": "bad"}, templates=["It was {label}.", "A {label} film."])
    prompts = label_texts(cfg, ["pos", "neg"])
    assert prompts == [["It was good.", "A good film."], ["It was bad.", "A bad film."]]
    calls = []

    def fake_encoder(texts):
        calls.append(list(texts))
        return torch.eye(4)[[0, 1, 2, 3]].numpy()

    matrix = label_matrix(fake_encoder, prompts)
    expected = torch.nn.functional.normalize(torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1]]), dim=1)
    assert torch.allclose(matrix, expected) and calls == [prompts[0] + prompts[1]]


def test_cache_hit_skips_encoding(tmp_path):
    from tixel.models.sentence import EmbeddingCache, SentenceEncoder

    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = SentenceEncoder("minilm-l6", cache=cache)
    texts = ["one text", "another text", "one text"]
    a = first(texts)
    assert first.encoded == 2  # the repeated text is encoded once
    second = SentenceEncoder("minilm-l6", cache=cache, model=first.model)
    b = second(texts + ["a new one"])
    assert second.encoded == 1 and (a == b[:3]).all()
    assert abs(float((a[0] ** 2).sum()) - 1) < 1e-5


def test_multi_label_by_threshold():
    names = ["football", "parliament", "smartphone"]
    text = "The football team won; later parliament debated"
    predictor = Predictor.zero_shot(names, threshold=0.25)
    encoder = predictor.bundle.preprocessing.encoder
    cos = (encoder([text]) @ encoder(names).T)[0]
    row = predictor.predict([text])[0]
    assert row["labels"] == [n for n, c in zip(names, cos) if c >= 0.25]
    assert "football" in row["labels"] and "smartphone" not in row["labels"]


def test_cli_zero_shot_without_config(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "tixel.cli", "predict", "--zero-shot", "--labels", "sport,politics",
                          "--format", "jsonl", "--text", "The goalkeeper saved a penalty"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["label"] == "sport"
    bad = subprocess.run([sys.executable, "-m", "tixel.cli", "predict", "--zero-shot", "--labels", "sport",
                          "--text", "x"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "at least two" in bad.stderr
