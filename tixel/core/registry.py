"""Named pieces (encoders, tasks, data readers) and their config schemas, as in timm's registry.

A piece registers itself where it is defined; `tixel.core.plugins` lists the modules to import.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from tixel.core.errors import ConfigError
from tixel.core.plugins import load_builtins

KINDS = ("encoder", "task", "reader", "section", "optimizer", "schedule", "preprocessor")  # section: a task's optional top-level section


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: Any
    schema: type | None


_REGISTRY: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def register(kind: str, name: str, schema: type | None = None) -> Callable:
    def decorator(obj):
        if name in _REGISTRY[kind]:
            raise ValueError(f"{kind} {name!r} is registered twice")
        _REGISTRY[kind][name] = Entry(kind, name, obj, schema)
        return obj

    return decorator


def register_encoder(name: str, schema: type) -> Callable:
    return register("encoder", name, schema)


def register_task(name: str) -> Callable:
    return register("task", name)


def register_reader(name: str, schema: type) -> Callable:
    return register("reader", name, schema)


def snapshot() -> dict[str, dict[str, Entry]]:
    return {kind: dict(found) for kind, found in _REGISTRY.items()}


def restore(saved: dict[str, dict[str, Entry]]) -> None:
    """Back to a snapshot: what a failed plugin import had registered is dropped."""
    for kind in _REGISTRY:
        _REGISTRY[kind].clear()
        _REGISTRY[kind].update(saved.get(kind, {}))


def entries(kind: str) -> dict[str, Entry]:
    load_builtins(snapshot, restore)
    return _REGISTRY[kind]


def get(kind: str, name: str) -> Entry:
    known = entries(kind)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")
    return known[name]


def create(kind: str, name: str, *args, **kwargs) -> Any:
    """The one factory: build the registered piece `name` of `kind`."""
    return get(kind, name).obj(*args, **kwargs)
