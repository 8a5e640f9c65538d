"""Unlabelled text for pretraining: a .txt with one document a line, a folder of .txt files (one
document each), or the text column of a .csv/.tsv/.jsonl file."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.inputs import read_texts
from tixel.data.splits import SplitFiles, read_split_files
from tixel.data.text import TextDataBase, TextSet


class UnlabelledTextData(TextDataBase, SplitFiles):
    format: Literal["unlabelled_text"]
    column: Optional[str] = Field(None, description=".csv/.tsv column or .jsonl field with the text (default: text)")
    min_chars: int = Field(1, ge=1, description="shorter documents are dropped")
    quoting: bool = Field(True, description=".csv/.tsv: false reads quote characters as text (SST-2's TSV)")


def read_unlabelled(path: str, column: Optional[str], min_chars: int, quoting: bool = True) -> TextSet:
    p = Path(path)
    if p.is_dir():
        files = sorted(p.rglob("*.txt"))
        texts, rows = [f.read_text(encoding="utf-8") for f in files], [str(f) for f in files]
    elif p.is_file():
        texts = list(read_texts(str(p), column, quoting))
        rows = None
    else:
        raise DataError(f"{path}: no such file or folder")
    keep = [i for i, t in enumerate(texts) if len(t.strip()) >= min_chars]
    if not keep:
        raise DataError(f"{path}: no text of at least {min_chars} characters in it")
    return TextSet([texts[i] for i in keep], None, str(p), [rows[i] for i in keep] if rows else None)


@register_reader("unlabelled_text", UnlabelledTextData)
def read_unlabelled_splits(cfg: UnlabelledTextData) -> dict[str, TextSet]:
    return read_split_files(cfg, lambda path: read_unlabelled(path, cfg.column, cfg.min_chars, cfg.quoting))
