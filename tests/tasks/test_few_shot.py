import json

import numpy as np
import pytest
import torch
from bundles import moved
from text_data import write_jsonl

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.engine.predict import Predictor
from tixel.tasks.few_shot import FewShotConfig, pairs, prompt_shots, sample_shots

QUIET = dict(progress=False, log=lambda *_: None)
SPORT = ["The striker scored twice in the derby", "The champion won the tennis final", "The team lost the cup match",
         "A record crowd watched the marathon", "The coach praised his goalkeeper"]
TECH = ["The phone has a faster processor", "Engineers released new cloud software", "The laptop battery lasts longer",
        "A startup built a chip for machine learning", "The browser update fixes security bugs"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIXEL_CACHE_DIR", str(tmp_path / "cache"))


def few_shot_cfg(tmp_path, **few_shot):
    write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": y} for ts, y in ((SPORT, "sport"), (TECH, "tech")) for t in ts])
    write_jsonl(tmp_path / "test.jsonl", [{"text": "The referee sent off the defender", "label": "sport"},
                                          {"text": "The new tablet runs a faster operating system", "label": "tech"}])
    return validate({"task": "few_shot_classification",
                     "data": {"format": "jsonl", "train": str(tmp_path / "train.jsonl"),
                              "test": str(tmp_path / "test.jsonl"), "split": {"validation": 0}},
                     "model": {"encoder": {"type": "transformer", "pretrained": "minilm-l6"}},
                     "few_shot": {"shots_per_class": 3, **few_shot},
                     "output": {"dir": str(tmp_path / "runs"), "name": "fs"}})


def test_shot_sampling_is_seeded_and_per_class():
    targets = np.array([0] * 10 + [1] * 6 + [2] * 2)
    a, b, c = sample_shots(targets, 3, 0), sample_shots(targets, 3, 0), sample_shots(targets, 3, 1)
    assert (a == b).all() and not (a == c).all()
    assert np.bincount(targets[a]).tolist() == [3, 3, 2]  # a class with fewer than K gives all it has
    chosen = pairs(targets[a], 2, 0)
    assert len(chosen) == 2 * 2 * len(a)
    assert all((targets[a][i] == targets[a][j]) == bool(s) for i, j, s in chosen)


def test_shots_only_from_eligible_texts_and_prompts_as_labelled_examples():
    targets = np.array([0, 0, 0, 1, 1, 1])
    eligible = np.array([True, False, True, False, True, True])
    for seed in range(5):
        assert eligible[sample_shots(targets, 2, seed, eligible)].all()
    cfg = FewShotConfig(templates=["It was {label}.", "A {label} film."], label_texts={"0": "bad"})
    texts, y = prompt_shots(cfg, ["0", "1"])
    assert texts == ["It was bad.", "A bad film.", "It was 1.", "A 1 film."] and y.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("method", ["setfit", "prototype"])
def test_few_shot_trains_reports_seeds_and_round_trips(tmp_path, method):
    result = train(few_shot_cfg(tmp_path, method=method, pairs_per_example=2, seeds=[0, 1]), **QUIET)
    seeds = json.loads((result.report_dir / "seeds.json").read_text())
    assert [r["seed"] for r in seeds["runs"]] == [0, 1] and 0 <= seeds["std"] <= 0.5
    assert result.test_metrics["accuracy"] == 1.0
    texts = ["The goalkeeper saved a penalty", "The software update adds a new chip driver"]
    first, again = Predictor(result.trained), Predictor.load(moved(result.bundle_dir))
    assert torch.allclose(first.probabilities(texts), again.probabilities(texts), atol=1e-6)
    assert [r["label"] for r in first.predict(texts)] == ["sport", "tech"]
    assert (result.bundle_dir / "encoder" / "model.safetensors").exists() == (method == "setfit")
    from tixel.commands.evaluate import evaluate_bundle

    evaluated = evaluate_bundle(str(result.run_dir))
    assert evaluated["seeds"]["mean"] == seeds["mean"] and "over 2 shot draws" in evaluated["text"]


def test_self_training_adds_confident_unlabelled_texts_never_the_shots(tmp_path):
    from tixel.tasks.few_shot import FewShotClassification, logistic_head

    cfg = few_shot_cfg(tmp_path, method="prototype", self_training=2, unlabelled_pool=6)
    task = FewShotClassification().configure(cfg)
    pre = task.fit_preprocessing(None, cfg)
    texts, y = SPORT + TECH, np.array([0] * 5 + [1] * 5)
    shots = np.array([0, 5])
    x = pre.apply([texts[i] for i in shots])
    head = logistic_head(x, y[shots], 2)
    picked, labels = task.pseudo_labelled(pre, head, texts, shots, None, 0)
    assert len(picked) == len(labels) and 0 < len(labels) <= 4
    assert not set(picked.tolist()) & set(shots.tolist())  # shots are not re-added
    added = pre.apply([texts[i] for i in picked])
    assert (labels == head(added).argmax(1).numpy()).all()  # each added text carries the head's own label


def test_self_training_pairs_tune_the_encoder_again_on_pseudo_labelled_texts(tmp_path, monkeypatch):
    import tixel.tasks.few_shot as few_shot

    sizes = []
    real = few_shot.contrastive_tune
    monkeypatch.setattr(few_shot, "contrastive_tune",
                        lambda enc, texts, y, cfg, seed, *stage: sizes.append((len(texts), cfg.pairs_per_example))
                        or real(enc, texts, y, cfg, seed, *stage))
    cfg = few_shot_cfg(tmp_path, shots_per_class=2, pairs_per_example=3, self_training=2, unlabelled_pool=6,
                       self_training_pairs=1)
    result = train(cfg, **QUIET)
    assert sizes[0] == (4, 3) and 4 < sizes[1][0] <= 8 and sizes[1][1] == 1  # shots, then shots + pseudo
    assert result.test_metrics["accuracy"] == 1.0
    sizes.clear()
    again = few_shot_cfg(tmp_path, shots_per_class=2, pairs_per_example=3, self_training=2, unlabelled_pool=6)
    train(again.model_copy(update={"output": again.output.model_copy(update={"name": "fs-head-only"})}), **QUIET)
    assert sizes == [(4, 3)]  # self_training_pairs 0: the encoder is tuned once, on the shots


def runner(tmp_path, **train):
    """The engine's stage runner, as `tixel train` hands it to a fitting task."""
    from tixel.core.config import TrainConfig
    from tixel.engine.stages import stage_runner

    return stage_runner(TrainConfig(**train), tmp_path / "run", torch.device("cpu"), False, lambda *_: None)


def test_contrastive_tuning_visits_every_pair_once_an_epoch(tmp_path):
    from tixel.tasks.few_shot import contrastive_tune

    class Recording:  # the encoder interface contrastive_tune uses, recording what it is asked to embed
        def __init__(self):
            self.model, self.calls = torch.nn.Embedding(6, 4), []

        def forward(self, texts):
            self.calls.append(tuple(texts))
            return torch.nn.functional.normalize(self.model(torch.tensor([int(t) for t in texts])), dim=-1)

        def weights_changed(self):
            pass

    texts, targets = [str(i) for i in range(6)], np.array([0, 0, 0, 1, 1, 1])
    cfg = FewShotConfig(pairs_per_example=2, batch_size=1, epochs=2)
    encoder = Recording()
    contrastive_tune(encoder, texts, targets, cfg, 0, runner(tmp_path))
    expected = sorted(tuple(dict.fromkeys([texts[a], texts[b]])) for a, b, _ in pairs(targets, 2, 0)) * 2
    assert sorted(encoder.calls) == sorted(expected)


def test_end_to_end_trains_encoder_and_head_together_and_round_trips(tmp_path, monkeypatch):
    import tixel.tasks.few_shot as few_shot
    from tixel.tasks.few_shot import end_to_end

    class Embedded:  # the encoder interface end_to_end uses: texts "0".."5" index an embedding table
        def __init__(self):
            self.model = torch.nn.Embedding(6, 4)

        def forward(self, texts):
            return torch.nn.functional.normalize(self.model(torch.tensor([int(t) for t in texts])), dim=-1)

        def weights_changed(self):
            pass

    torch.manual_seed(0)
    encoder, head = Embedded(), torch.nn.Linear(4, 2)
    table, weight = encoder.model.weight.detach().clone(), head.weight.detach().clone()
    cfg = FewShotConfig(end_to_end_epochs=30, end_to_end_lr=0.05, batch_size=2)
    losses = end_to_end(encoder, head, [str(i) for i in range(6)], np.array([0, 0, 0, 1, 1, 1]), cfg, 0,
                        runner(tmp_path))
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]  # one mean loss an epoch
    assert not torch.allclose(encoder.model.weight, table) and not torch.allclose(head.weight, weight)

    calls = []
    monkeypatch.setattr(few_shot, "end_to_end", lambda enc, head, texts, y, cfg, seed, *stage: calls.append(len(texts))
                        or end_to_end(enc, head, texts, y, cfg, seed, *stage))
    result = train(few_shot_cfg(tmp_path, pairs_per_example=2, end_to_end_epochs=1), **QUIET)
    assert calls == [6] and result.test_metrics["accuracy"] == 1.0  # after the head: on the 3 + 3 shots
    texts = ["The goalkeeper saved a penalty", "The software update adds a new chip driver"]
    tuned, loaded = Predictor(result.trained), Predictor.load(moved(result.bundle_dir))
    assert torch.allclose(tuned.probabilities(texts), loaded.probabilities(texts), atol=1e-6)
    with pytest.raises(ValueError, match="needs method setfit"):
        FewShotConfig(method="prototype", end_to_end_epochs=1)


def test_few_shot_stages_run_on_the_engine_and_resume_exactly(tmp_path):
    """Contrastive tuning and the end-to-end stage run on the engine's loop: a run stopped in the middle of
    the contrastive stage and resumed ends with the weights of a run never stopped."""
    from tiny import stop_after

    from tixel.core.io import load_checkpoint
    from tixel.engine.loop import Interrupted

    options = dict(pairs_per_example=4, epochs=2, batch_size=4, end_to_end_epochs=1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = train(few_shot_cfg(tmp_path / "a", **options), **QUIET)
    cfg = few_shot_cfg(tmp_path / "b", **options)
    with pytest.raises(Interrupted):
        train(cfg, **QUIET, on_event=stop_after(1, 2))
    stopped = load_checkpoint(tmp_path / "b" / "runs" / "fs" / "stages" / "seed0-contrastive" / "checkpoints" / "last.pt")
    assert stopped["state"]["epoch"] == 1 and stopped["state"]["step"] == 2
    resumed = train(cfg, resume=str(tmp_path / "b" / "runs" / "fs"), **QUIET)
    assert not (resumed.run_dir / "stages").exists()  # the bundle holds what the stages trained
    a, b = full.trained.model.state_dict(), resumed.trained.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    texts = ["The goalkeeper saved a penalty", "A new phone"]
    assert torch.equal(Predictor(full.trained).probabilities(texts), Predictor(resumed.trained).probabilities(texts))
