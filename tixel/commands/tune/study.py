"""`tixel tune CONFIG`: an Optuna study whose trials are ordinary `tixel train` runs.

Each trial trains the config with the sampled values in `OUT/trial-NNNN/`; the per-epoch validation
metric feeds the pruner, and the trial's value is its best epoch. Storage is an RDB (SQLite in the
output folder by default, PostgreSQL for workers on several machines), because Optuna's heartbeat,
which turns a killed worker's trial from RUNNING into FAIL, exists for RDB storage only. Any number of
`tixel tune` processes on one study share the trial budget; rerunning after a crash continues it.
"""
from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

from tixel.commands.train import check_monitor, train
from tixel.commands.tune.report import write_report
from tixel.commands.tune.space import SearchConfig, apply_point, check_space
from tixel.core.config import apply_overrides, read_yaml, to_dict, validate
from tixel.core.errors import ConfigError
from tixel.core.log import RUN_LOG, quiet_optuna
from tixel.engine.loop import EpochEnd
from tixel.tasks import create_task

FINISHED = ("COMPLETE", "PRUNED")


def open_study(search: SearchConfig, name: str, storage_url: str):
    import optuna

    return optuna.create_study(storage=rdb_storage(search, storage_url), study_name=name,
                               direction=search.resolved_direction(), sampler=make_sampler(search),
                               pruner=make_pruner(search), load_if_exists=True)


def rdb_storage(search: SearchConfig, url: str, attempts: int = 5):
    """Workers started together on an empty database race to create Optuna's tables (PostgreSQL then
    rejects the second CREATE TYPE); the loser waits and connects to the tables the winner made."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna calls its heartbeat options experimental
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=search.heartbeat_s, grace_period=2 * search.heartbeat_s,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                    engine_kwargs={"pool_pre_ping": True})
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def make_sampler(search: SearchConfig):
    import optuna

    if search.sampler == "random":
        return optuna.samplers.RandomSampler()
    return optuna.samplers.TPESampler(n_startup_trials=search.startup_trials)


def make_pruner(search: SearchConfig):
    import optuna

    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_epochs)
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def objective(raw: dict, search: SearchConfig, out_dir: Path, source: str, log: Callable):
    """A trial: sample, train with the pruner watching each epoch, return the best epoch's metric."""


    def run(trial) -> float:
        point = {path: param.suggest(trial, path) for path, param in search.params.items()}
        cfg = validate(apply_point(raw, {**point, "output.dir": str(out_dir), "output.overwrite": True,
                                         "output.name": f"trial-{trial.number:04d}"}), source)
        _check_metric(cfg, search)
        watch = Watch(trial, search)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("run", str(out_dir / cfg.output.name))
        try:
            result = train(cfg, progress=False, on_event=watch, log=lambda *_: None)
        finally:
            trial.set_user_attr("epochs", watch.epochs)
        trial.set_user_attr("test", {k: v for k, v in result.test_metrics.items() if isinstance(v, (int, float))})
        log(f"trial {trial.number}: {search.metric} {watch.best:.4f} after {watch.epochs} epochs  {point}")
        return watch.best

    return run


class Watch:
    """The trainer's on_event hook: reports each epoch's metric and raises TrialPruned when told to."""

    def __init__(self, trial, search: SearchConfig):
        self.trial, self.metric, self.sign = trial, search.metric, 1 if search.resolved_direction() == "maximize" else -1
        self.best, self.epochs = float("nan"), 0

    def __call__(self, job, event) -> None:
        import optuna


        if not isinstance(event, EpochEnd):
            return
        value = float(event.metrics[self.metric])
        self.epochs = event.epoch
        if self.best != self.best or self.sign * (value - self.best) > 0:
            self.best = value
        self.trial.report(value, event.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {event.epoch}: {self.metric} {value:.4f}")


def _check_metric(cfg, search: SearchConfig) -> None:
    try:
        check_monitor(cfg.model_copy(update={"train": cfg.train.model_copy(update={"monitor": search.metric})}),
                      create_task(cfg.task, cfg))
    except ConfigError as err:
        raise ConfigError(str(err).replace("train.monitor", "search.metric", 1)) from None


def tune(config: str, overrides: list[str] = (), storage: Optional[str] = None, trials: Optional[int] = None,
         log: Callable = RUN_LOG.info) -> dict:
    import optuna


    raw, text = read_yaml(config)
    raw = apply_overrides(raw, list(overrides))
    cfg = validate(raw, config, text)
    if cfg.search is None:
        raise ConfigError(f"{config}: no search: section (params, metric, trials) to tune")
    search = cfg.search.model_copy(update={k: v for k, v in (("trials", trials), ("storage", storage)) if v})
    check_space(raw, search, config)
    name = search.study or Path(config).stem
    out_dir = Path(cfg.output.dir) / f"tune-{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    study = open_study(search, name, search.storage or f"sqlite:///{(out_dir / 'study.db').resolve()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.9
        optuna.storages.fail_stale_trials(study)  # a worker killed earlier: its trial is failed (and retried)
    base = {k: v for k, v in to_dict(cfg).items() if k != "search"}
    started = time.perf_counter()
    quiet_optuna()
    study.optimize(objective(base, search, out_dir, config, log), timeout=search.timeout_s, catch=(),
                   callbacks=[optuna.study.MaxTrialsCallback(search.trials, states=_states(FINISHED))],
                   n_trials=None if _finished(study) < search.trials else 0)

    return write_report(study, search, base, out_dir, time.perf_counter() - started, log)


def _states(names):
    from optuna.trial import TrialState

    return tuple(TrialState[n] for n in names)


def _finished(study) -> int:
    return len(study.get_trials(deepcopy=False, states=_states(FINISHED)))
