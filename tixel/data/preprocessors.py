"""One saved format for every fitted preprocessor, read and written here only.

A preprocessor (image statistics, a text tokenizer and cleaning, the tagger's windows, a sentence
encoder) is registered by kind and gives its fitted state as JSON (`state`), rebuilt by `from_state`.
On disk that is one file, `preprocessing.json`: {"kind", "format", "state"}; a tokenizer travels inside
it as its own JSON text. A bundle, a run's `preprocessing/` folder and a pretrained encoder folder all
hold it the same way. Bundles written before this format (text_preprocessing.json,
tagging_preprocessing.json, sentence_encoder.json, a bare image preprocessing.json) are read through
`_legacy_state`, so they keep loading.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Protocol

from tixel.core import registry
from tixel.core.errors import BundleError
from tixel.core.io import write_text

FILE = "preprocessing.json"
FORMAT = 1


class Preprocessor(Protocol):
    kind: ClassVar[str]  # its registry name
    fitted_fields: ClassVar[tuple[str, ...]]  # config fields whose values its state holds

    def state(self, folder: Path) -> dict: ...

    @classmethod
    def from_state(cls, state: dict, folder: Path) -> "Preprocessor": ...


def register_preprocessor(kind: str):
    def decorator(cls):
        cls.kind = kind
        return registry.register("preprocessor", kind)(cls)

    return decorator


def save(pre: Any, folder: str | Path) -> Path:
    """`folder`/preprocessing.json (atomically); a preprocessor with weights (a tuned sentence encoder)
    writes them beside it from `state`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"kind": pre.kind, "format": FORMAT, "state": pre.state(folder)}
    write_text(folder / FILE, json.dumps(record, indent=1, ensure_ascii=False))
    return folder / FILE


def load(folder: str | Path, kind: str | None = None) -> Any:
    """The preprocessor saved in `folder`; with `kind`, a folder holding another kind is an error."""
    folder = Path(folder)
    saved_kind, state = read_state(folder)
    if kind is not None and saved_kind != kind:
        raise BundleError(f"{folder / FILE}: holds a {saved_kind!r} preprocessor, expected {kind!r}")
    return registry.get("preprocessor", saved_kind).obj.from_state(state, folder)


def read_state(folder: Path) -> tuple[str, dict]:
    path = folder / FILE
    if not path.is_file() and not any((folder / name).is_file() for name in _LEGACY):
        raise BundleError(f"{folder}: no {FILE} (the fitted preprocessing is missing)")
    try:
        record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: unreadable ({err})") from None
    if record is None or "kind" not in record:
        return _legacy_state(folder, record)
    if record.get("format", 0) > FORMAT:
        raise BundleError(f"{path}: preprocessing format {record['format']} is newer than this tixel reads")
    if not isinstance(record.get("state"), dict):
        raise BundleError(f"{path}: expected {{'kind', 'format', 'state'}}, got keys {sorted(record)}")
    return record["kind"], record["state"]


def fitted_fields(folder: str | Path) -> tuple[str, ...]:
    kind, _ = read_state(Path(folder))
    return registry.get("preprocessor", kind).obj.fitted_fields


# ---------------------------------------------------------------- bundles written before this format

_LEGACY = ("text_preprocessing.json", "tagging_preprocessing.json", "sentence_encoder.json")


def _legacy_state(folder: Path, image_record: dict | None) -> tuple[str, dict]:
    def meta(name: str) -> dict:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    def tokenizer() -> str:
        return (folder / "tokenizer.json").read_text(encoding="utf-8")

    if image_record is not None:
        return "image", image_record
    if (folder / "text_preprocessing.json").is_file():
        return "text", {**meta("text_preprocessing.json"), "tokenizer": tokenizer()}
    if (folder / "tagging_preprocessing.json").is_file():
        return "tagging", {**meta("tagging_preprocessing.json"), "tokenizer": tokenizer()}
    return "sentence", meta("sentence_encoder.json")
