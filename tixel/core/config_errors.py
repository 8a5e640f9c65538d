"""Readable config errors: pydantic's error locations mapped back to the user's keys, the YAML line
each key is on, and the nearest valid key for a typo."""
from __future__ import annotations

import difflib
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel


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
