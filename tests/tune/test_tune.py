"""`tixel tune`: search-space checks, a study that writes its report and resumes, pruning counted in
epochs, a killed worker's trial recorded as failed and retried, and two workers on one PostgreSQL study."""
import copy
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from postgres import postgres_url  # noqa: F401  (fixture)
from tiny import TINY

from tixel.commands.tune.space import SearchConfig, check_space
from tixel.commands.tune.study import objective, open_study, tune
from tixel.core.config import validate
from tixel.core.errors import ConfigError

QUIET = dict(log=lambda *_: None)
SPACE = {"train.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
         "model.head.dropout": {"type": "categorical", "choices": [0.0, 0.3]}}


def write_config(tmp_path, epochs=2, **search):
    raw = copy.deepcopy(TINY)
    raw["train"]["epochs"] = epochs
    raw["output"] = {"dir": str(tmp_path / "runs")}
    raw["search"] = {"metric": "val_accuracy", "trials": 3, "startup_trials": 2, "params": SPACE, **search}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_search_path_that_is_not_a_config_field_names_the_path_and_the_fix(tmp_path):
    raw = yaml.safe_load(write_config(tmp_path).read_text())
    search = SearchConfig.model_validate({"params": {"train.lrr": {"type": "float", "low": 0.1, "high": 1}}})
    with pytest.raises(ConfigError, match=r"search.params.train.lrr(.|\n)*did you mean 'train.lr'"):
        check_space({k: v for k, v in raw.items() if k != "search"}, search, "tiny.yaml")
    with pytest.raises(ConfigError, match="low < high"):
        validate({**raw, "search": {"params": {"train.lr": {"type": "float", "low": 1, "high": 0.1}}}})


def test_a_study_writes_its_report_and_resumes_to_more_trials(tmp_path):
    path = write_config(tmp_path, pruner="none")
    summary = tune(str(path), **QUIET)
    out = tmp_path / "runs" / "tune-tiny"
    assert summary["states"] == {"COMPLETE": 3}
    assert {"best.yaml", "trials.json", "summary.json", "history.png", "importances.png"} <= {p.name for p in out.iterdir()}
    best = validate(yaml.safe_load((out / "best.yaml").read_text()))  # a runnable config
    assert best.train.lr == pytest.approx(summary["best_params"]["train.lr"])
    assert best.search is None
    rows = json.loads((out / "trials.json").read_text())
    assert all(r["epochs"] == 2 and "accuracy" in r["test"] for r in rows)
    assert tune(str(path), **QUIET)["trials"] == 3  # the budget is met: rerunning adds nothing
    assert tune(str(path), trials=4, **QUIET)["states"] == {"COMPLETE": 4}


def test_the_pruner_stops_a_bad_trial_early(tmp_path):
    path = write_config(tmp_path, epochs=6, warmup_epochs=1)
    cfg = validate(yaml.safe_load(path.read_text()))
    raw = {k: v for k, v in cfg.model_dump(mode="json").items() if k != "search"}
    study = open_study(cfg.search, "prune", f"sqlite:///{tmp_path / 'p.db'}")
    for lr in (0.01, 0.01, 1e-7):  # the third cannot learn in 6 epochs: val accuracy stays near chance
        study.enqueue_trial({"train.lr": lr, "model.head.dropout": 0.0})
    study.optimize(objective(raw, cfg.search, tmp_path / "trials", str(path), lambda *_: None), n_trials=3)
    good, _, bad = study.trials
    assert good.state.name == "COMPLETE" and good.user_attrs["epochs"] == 6
    assert bad.state.name == "PRUNED"
    assert bad.user_attrs["epochs"] < 6  # counted: it stopped before its budget
    lines = (tmp_path / "trials" / "trial-0002" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == bad.user_attrs["epochs"]


def _worker(path, *args):
    return subprocess.Popen([sys.executable, "-m", "tixel", "tune", str(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _wait_for(study_name, url, state, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            trials = optuna.load_study(study_name=study_name, storage=url).trials
        except KeyError:  # the worker has not created the study yet
            trials = []
        if any(t.state.name == state for t in trials):
            return trials
        time.sleep(0.5)
    raise AssertionError(f"no {state} trial within {timeout} s")


def _wait_for_heartbeat(db, timeout=60):
    import sqlite3

    deadline = time.time() + timeout
    while time.time() < deadline:
        with sqlite3.connect(db, timeout=5) as connection:
            if connection.execute("SELECT COUNT(*) FROM trial_heartbeats").fetchone()[0]:
                return
        time.sleep(0.2)
    raise AssertionError(f"no trial heartbeat recorded in {db} within {timeout} s")


def test_a_killed_workers_trial_is_failed_and_retried(tmp_path):
    path = write_config(tmp_path, epochs=500, heartbeat_s=1, trials=1)  # a trial far too long to finish
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    worker = _worker(path, "--storage", url)
    try:
        _wait_for("tiny", url, "RUNNING")
        _wait_for_heartbeat(tmp_path / "kill.db")  # a loaded machine can start the heartbeat thread late
        time.sleep(1.5)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    time.sleep(3.5)  # past the grace period of 2 heartbeats (SQLite's now() has whole seconds)
    summary = tune(str(path), ["train.epochs=1"], url, **QUIET)
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    states = [t.state.name for t in trials]
    assert states == ["FAIL", "COMPLETE"], states
    assert trials[1].params == trials[0].params  # the retry ran the killed trial's point
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trials[1]) == trials[0].number
    assert summary["states"] == {"FAIL": 1, "COMPLETE": 1}


def test_two_workers_share_one_postgresql_study(tmp_path, postgres_url):  # noqa: F811
    path = write_config(tmp_path, trials=6)
    workers = [_worker(path, "--storage", postgres_url) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    trials = optuna.load_study(study_name="tiny", storage=postgres_url).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 6 <= len(done) <= 7  # a worker that started its trial just before the budget filled may finish it
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both processes ran trials
    runs = {t.user_attrs["run"] for t in done}
    assert len(runs) == len(done)  # no two trials wrote one folder


def test_hyperband_and_random_sampling_run_a_study(tmp_path):
    path = write_config(tmp_path, pruner="hyperband", sampler="random", trials=2)
    summary = tune(str(path), **QUIET)
    assert sum(summary["states"].values()) == 2 and set(summary["states"]) <= {"COMPLETE", "PRUNED"}
