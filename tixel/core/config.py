"""The experiment schema (pydantic), YAML loading and `--set` overrides (readable
errors: config_errors.py).

The sections that vary by piece (`data`, `model.encoder`) are discriminated unions built from the
registry, so a new reader or encoder extends the schema by registering itself.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Protocol, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tixel.core import registry
from tixel.core.config_errors import describe_error
from tixel.core.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def synonyms(*names: str) -> dict:
    """Other spellings users carry over from Keras / HF Trainer, used only to suggest the real key."""
    return {"synonyms": list(names)}


def registered(kind: str) -> Any:
    """A name of a registered `kind`, checked when a config is validated rather than a Literal fixed
    here: the optimisers and schedules register in tixel.engine (loaded by module name, as plugins), which
    this lowest layer must not import. An unknown name is an error at its field that lists the known ones;
    the JSON schema lists them as an enum."""
    return Annotated[str, AfterValidator(functools.partial(_check_registered, kind)),
                     Field(json_schema_extra=functools.partial(_enum_of, kind))]


def _check_registered(kind: str, name: str) -> str:
    try:
        registry.get(kind, name)
    except ConfigError as err:  # pydantic reports a PydanticCustomError at the field, with the user's key
        raise PydanticCustomError("unknown_name", "{reason}", {"reason": str(err)}) from None
    return name


def _enum_of(kind: str, schema: dict) -> None:
    schema["enum"] = sorted(registry.entries(kind))


class OptimizerConfig(Section):
    name: registered("optimizer") = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0, json_schema_extra=synonyms("beta"))
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, json_schema_extra=synonyms("decay", "l2"))


class ScheduleConfig(Section):
    name: registered("schedule") = "constant"
    warmup_epochs: float = Field(0.0, ge=0, json_schema_extra=synonyms("warmup"))
    step_epochs: int = Field(10, ge=1, description="step: multiply the lr by gamma every N epochs")
    gamma: float = Field(0.1, gt=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine: final lr as a fraction of lr")


class FinetuneConfig(Section):
    """Which parameters train (tixel/train/finetune.py applies it)."""
    mode: Literal["full", "frozen", "lora", "ia3"] = "full"
    rank: int = Field(8, ge=1, description="lora: the rank r")
    alpha: float = Field(16, gt=0, description="lora: the scale alpha (the update is scaled by alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1, description="lora: dropout on the adapter's input")
    target_modules: Optional[list[str]] = Field(
        None, description="module names to adapt; default lora: query, key, value, dense (every linear layer); "
                     "ia3: key, value, output.dense")
    layer_decay: Optional[float] = Field(None, gt=0, le=1, description="discriminative lr per transformer layer")
    gradual_unfreeze: bool = Field(False, description="mode full: the head first, then one more encoder layer "
                                                      "group from the top each epoch (ULMFiT)")

    @model_validator(mode="after")
    def _unfreeze_needs_full(self):
        if self.gradual_unfreeze and self.mode != "full":
            raise ValueError(f"gradual_unfreeze unfreezes the encoder step by step: it needs mode full, not {self.mode}")
        return self


class TrainConfig(Section):
    epochs: int = Field(10, ge=1, json_schema_extra=synonyms("num_epochs", "n_epochs", "max_epochs"))
    batch_size: int = Field(32, ge=1, description="examples per batch, over all processes under torchrun",
                            json_schema_extra=synonyms("batch", "bs", "train_batch_size"))
    eval_batch_size: int = Field(512, ge=1)
    lr: float = Field(1e-3, gt=0, json_schema_extra=synonyms("learning_rate", "rate"))
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = Field(ScheduleConfig(), json_schema_extra=synonyms("lr_schedule", "scheduler"))
    grad_clip: Optional[float] = Field(None, gt=0, json_schema_extra=synonyms("max_grad_norm", "clip_grad_norm"))
    accumulate: int = Field(1, ge=1, description="batches whose gradients add up before each optimizer step",
                            json_schema_extra=synonyms("gradient_accumulation_steps", "grad_accum", "accumulation"))
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    ema: Optional[float] = Field(None, gt=0, lt=1, description="decay of an exponential moving average of "
                                 "the weights, updated every optimizer step; validation, the best checkpoint "
                                 "and the bundle use the average (e.g. 0.999)",
                                 json_schema_extra=synonyms("ema_decay", "weight_averaging"))
    class_weights: Union[Literal["balanced"], dict[str, float], None] = None
    monitor: str = Field("val_loss", description="a logged metric: best checkpoint and early stopping")
    mode: Literal["auto", "min", "max"] = "auto"
    patience: Optional[int] = Field(None, ge=1, json_schema_extra=synonyms("early_stopping"))
    min_delta: float = Field(0.0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = Field("fp32", json_schema_extra=synonyms("amp", "mixed_precision"))
    channels_last: bool = True
    flush_denormals: bool = Field(True, description="CPU: treat denormal floats as zero (as TensorFlow does); a "
                                  "long LSTM's gradients decay into denormals, which x86 computes ~100x slower")
    finetune: FinetuneConfig = FinetuneConfig()


class OutputConfig(Section):
    dir: str = Field("runs", json_schema_extra=synonyms("output_dir", "path"))
    name: Optional[str] = Field(None, description="run folder name; default: config name + timestamp")
    overwrite: bool = False


class HeadConfig(Section):
    hidden: list[int] = Field([], json_schema_extra=synonyms("units", "layers"))
    dropout: float = Field(0.0, ge=0, lt=1)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    crf: bool = Field(False, description="tagging: a linear-chain CRF output layer with constrained Viterbi")


def _union(kind: str, discriminator: str) -> Any:
    schemas = tuple(entry.schema for entry in registry.entries(kind).values())
    return Field(discriminator=discriminator), Union[schemas]  # type: ignore[valid-type]


class Experiment(Protocol):
    """What every validated config has (its model class is built from the registry by
    `experiment_schema`); the type the engine and the commands annotate a config with."""
    task: str
    seed: int
    data: Any  # the reader's section
    model: Any  # encoder, head, init
    train: TrainConfig
    output: OutputConfig


@functools.cache
def experiment_schema() -> type[Section]:
    """The Experiment model, built once the registered pieces are known."""
    enc_field, enc_type = _union("encoder", "type")
    data_field, data_type = _union("reader", "format")
    model_cls = create_model(
        "ModelConfig", __base__=Section,
        encoder=(Annotated[enc_type, enc_field], ...), head=(HeadConfig, HeadConfig()),
        init=(Literal["default", "glorot_uniform", "kaiming_normal"], "default"),
    )
    tasks = tuple(registry.entries("task"))
    sections = {name: (Optional[e.schema], None) for name, e in registry.entries("section").items()}
    return create_model(
        "Experiment", __base__=Section,
        task=(Literal[tasks], ...), seed=(int, 0), data=(Annotated[data_type, data_field], ...),
        model=(model_cls, ...), train=(TrainConfig, TrainConfig()), output=(OutputConfig, OutputConfig()),
        **sections,
    )


# ---------------------------------------------------------------- loading


def read_yaml(path: str | Path) -> tuple[dict, str]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (task, data, model, train, output)")
    return raw, text


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`--set a.b.0.c=value`: the value is parsed as YAML, so numbers, lists and null work."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        set_path(raw, key, yaml.safe_load(value))
    return raw


def set_path(raw: dict, key: str, value: Any) -> None:
    """Write `value` at the dotted path `key` (list items by index), creating sections on the way."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        node = _child(node, part, ".".join(parts[: i + 1]))
    if isinstance(node, dict):  # `--set ...pretrained=` overrides a `from:` in the file, its other spelling
        node.pop(SPELLINGS.get(parts[-1], ""), None)
    _assign(node, parts[-1], value, key)


SPELLINGS = {"pretrained": "from", "from": "pretrained"}  # keys with two accepted spellings (aliases)


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {path}: {path.rsplit('.', 1)[0]} is not a section")
    return node.setdefault(part, {})


def _assign(node: Any, part: str, value: Any, path: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, path)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ConfigError(f"--set {path}: parent is not a section")


def _index(node: list, part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {path}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def load_config(path: str | Path, overrides: list[str] = ()) -> Section:
    raw, text = read_yaml(path)
    return validate(apply_overrides(raw, list(overrides)), source=str(path), text=text)


def validate(raw: dict, source: str = "<config>", text: str | None = None) -> Section:
    schema = experiment_schema()
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        lines = [describe_error(schema, e, text) for e in err.errors()]
        raise ConfigError(f"invalid config {source}:\n" + "\n".join(lines)) from None


def to_dict(cfg: Section) -> dict:
    return cfg.model_dump(mode="json")


def differences(a, b, prefix: str = "") -> list[str]:
    """The dotted paths where two config dicts differ (a key missing on one side counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in a.keys() | b.keys() for p in differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]
