"""The experiment schema (pydantic), YAML loading, `--set` overrides and readable errors.

The sections that vary by piece (`data`, `model.encoder`) are discriminated unions built from the
registry, so a new reader or encoder extends the schema by registering itself.
"""
from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any, Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from tixel.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def synonyms(*names: str) -> dict:
    """Other spellings users carry over from Keras / HF Trainer, used only to suggest the real key."""
    return {"synonyms": list(names)}


class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0, json_schema_extra=synonyms("beta"))
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, json_schema_extra=synonyms("decay", "l2"))


class ScheduleConfig(Section):
    name: Literal["constant", "step", "cosine"] = "constant"
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
    class_weights: Union[Literal["balanced"], dict[str, float], None] = None
    monitor: str = Field("val_loss", description="a logged metric: best checkpoint and early stopping")
    mode: Literal["auto", "min", "max"] = "auto"
    patience: Optional[int] = Field(None, ge=1, json_schema_extra=synonyms("early_stopping"))
    min_delta: float = Field(0.0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = Field("fp32", json_schema_extra=synonyms("amp", "mixed_precision"))
    channels_last: bool = True
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
    from tixel import registry

    schemas = tuple(entry.schema for entry in registry.entries(kind).values())
    return Field(discriminator=discriminator), Union[schemas]  # type: ignore[valid-type]


@functools.cache
def experiment_schema() -> type[Section]:
    """The Experiment model, built once the registered pieces are known."""
    from typing import Annotated

    from tixel import registry

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


# ---------------------------------------------------------------- error messages


def describe_error(schema: type[BaseModel], error: dict, text: str | None) -> str:
    path, fields = _walk(schema, error["loc"])
    dotted = ".".join(str(p) for p in path) or "(top level)"
    where = _line_of(text, path)
    prefix = f"  line {where}: {dotted}" if where else f"  {dotted}"
    if error["type"] == "extra_forbidden":
        return f"{prefix}: unknown key{_suggest(path, fields)}"
    if error["type"] == "union_tag_invalid":
        return f"{prefix}: {error['msg']}{_suggest_tag(error)}"
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{prefix}: {error['msg']}{shown}"


def _walk(schema: type[BaseModel], loc: tuple) -> tuple[list, dict[str, list[str]]]:
    """Map pydantic's loc (which includes union tags) to the user's key path and the valid keys there."""
    path: list = []
    ann: Any = schema
    for part in loc:
        ann = _unwrap(ann)
        if _is_model(ann) and part in ann.model_fields:
            path.append(part)
            ann = ann.model_fields[part].annotation
        elif _is_model(ann) and part in _tags_of(ann):
            continue  # a one-member union is the member itself, yet pydantic still puts its tag in loc
        elif _is_model(ann):
            path.append(part)  # an unknown key: fields of `ann` are the candidates
            return path, _candidates(ann)
        elif isinstance(part, int):
            path.append(part)
            ann = get_args(ann)[0] if get_args(ann) else Any
        else:
            ann = _member_with_tag(ann, part)
    return path, _candidates(_unwrap(ann))


def _unwrap(ann: Any) -> Any:
    while get_origin(ann) is not None and type(None) in get_args(ann):
        ann = next(a for a in get_args(ann) if a is not type(None))
    if getattr(ann, "__metadata__", None):
        ann = get_args(ann)[0]
    return ann


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _tags_of(model: type[BaseModel]) -> tuple:
    for name in ("type", "format"):
        field = model.model_fields.get(name)
        if field is not None and get_origin(field.annotation) is Literal:
            return get_args(field.annotation)
    return ()


def _member_with_tag(ann: Any, tag: str) -> Any:
    members = [m for m in get_args(ann) if _is_model(m) and tag in _tags_of(m)]
    return members[0] if members else Any


def _candidates(ann: Any) -> dict[str, list[str]]:
    if not _is_model(ann):
        return {}
    out = {}
    for name, field in ann.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        out[name] = [name, *extra.get("synonyms", [])]
    return out


def _suggest(path: list, fields: dict[str, list[str]]) -> str:
    typo = str(path[-1])
    spellings = {s: name for name, names in fields.items() for s in names}
    close = difflib.get_close_matches(typo, spellings, n=1, cutoff=0.6)
    if not close:
        return f" (valid keys: {', '.join(fields)})" if fields else ""
    parent = ".".join(str(p) for p in path[:-1])
    return f"; did you mean '{parent + '.' if parent else ''}{spellings[close[0]]}'?"


def _suggest_tag(error: dict) -> str:
    tags = [t.strip("'\" ") for t in error.get("ctx", {}).get("expected_tags", "").split(",")]
    close = difflib.get_close_matches(str(error["ctx"].get("tag", "")), tags, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _line_of(text: str | None, path: list) -> int | None:
    """Line of the deepest YAML node on `path` that exists in the file (None for --set keys)."""
    if not text:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        node, key_line = _yaml_child(node, part)
        if node is None:
            return key_line or line
        line = key_line
    return line


def _yaml_child(node: Any, part: Any) -> tuple[Any, int | None]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None, None
