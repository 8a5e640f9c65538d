"""The `search:` section: per-parameter spaces over config paths, the objective, sampler and pruner.

A parameter's key is a `--set` path (`train.lr`, `model.encoder.blocks.0.channels`), so anything the
config holds can be searched, and each sampled point is validated as a whole config before it trains."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from tixel.core.config import Section, set_path, validate
from tixel.core.errors import ConfigError
from tixel.core.registry import register
from tixel.engine.loop import LOWER_IS_BETTER


class FloatParam(Section):
    type: Literal["float"]
    low: float
    high: float
    log: bool = Field(False, description="sample on a log scale (learning rates, weight decay)")
    step: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _range(self):
        if self.high <= self.low or (self.log and self.low <= 0):
            raise ValueError("needs low < high, and low > 0 on a log scale")
        return self

    def suggest(self, trial, name: str):
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class IntParam(Section):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _range(self):
        if self.high < self.low:
            raise ValueError("needs low <= high")
        return self

    def suggest(self, trial, name: str):
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)


class CategoricalParam(Section):
    type: Literal["categorical"]
    choices: list[Union[str, float, int, bool, None]] = Field(min_length=1)

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, self.choices)


Param = Union[FloatParam, IntParam, CategoricalParam]


class SearchConfig(Section):
    params: dict[str, Param] = Field(min_length=1, description="config path -> space, e.g. train.lr")
    metric: str = Field("val_loss", description="a logged per-epoch metric; its best epoch is the trial's value")
    direction: Literal["auto", "minimize", "maximize"] = "auto"
    trials: int = Field(20, ge=1, description="finished trials wanted in the whole study, over all workers")
    timeout_s: Optional[float] = Field(None, gt=0, description="this worker stops starting trials after it")
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    warmup_epochs: int = Field(1, ge=0, description="median pruner: epochs a trial runs before it can be pruned")
    startup_trials: int = Field(4, ge=0, description="trials before TPE models the space and the pruner prunes")
    study: Optional[str] = Field(None, description="study name; default: the config file's stem")
    storage: Optional[str] = Field(None, description="default: sqlite in the output folder; or postgresql://...")
    heartbeat_s: int = Field(20, ge=1, description="a worker silent for twice this long has its trial failed")

    def resolved_direction(self) -> str:
        if self.direction != "auto":
            return self.direction
        return "minimize" if any(name in self.metric for name in LOWER_IS_BETTER) else "maximize"


register("section", "search", SearchConfig)(SearchConfig)


def example_value(param: Param):
    return param.choices[0] if isinstance(param, CategoricalParam) else param.low


def apply_point(raw: dict, point: dict) -> dict:
    """The base config (a plain dict) with the sampled values written at their paths."""
    import copy

    raw = copy.deepcopy(raw)
    for path, value in point.items():
        set_path(raw, path, value)
    return raw


def check_space(raw: dict, search: SearchConfig, source: str) -> None:
    """Each path must name a config field: try the space's first value there, and say which path broke."""
    for path, param in search.params.items():
        try:
            validate(apply_point(raw, {path: example_value(param)}), source)
        except ConfigError as err:
            raise ConfigError(f"search.params.{path}: this path does not take {example_value(param)!r}:\n{err}") from None
