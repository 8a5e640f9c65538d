"""Unlabelled texts to predict: a .txt (one per line), a .csv/.tsv column or a .jsonl field, or stdin."""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Iterator, Optional

from tixel.core.errors import DataError
from tixel.data.images import list_images
from tixel.data.tabular import jsonl_records, open_text


def read_texts(path: str, column: Optional[str] = None, quoting: bool = True) -> Iterator[str]:
    if path == "-":
        yield from (line.rstrip("\n") for line in sys.stdin if line.strip())
        return
    p = Path(path)
    suffix = Path(p.name.removesuffix(".gz")).suffix.lower()
    with open_text(p, "utf-8") as handle:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",",
                                    quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
            yield from _column(reader, column or "text", p)
        elif suffix == ".jsonl":
            yield from _field(handle, column or "text", p)
        else:
            yield from (line.rstrip("\n") for line in handle if line.strip())


def _column(reader: csv.DictReader, column: str, path: Path) -> Iterator[str]:
    if column not in (reader.fieldnames or []):
        raise DataError(f"{path}, line 1: no column {column!r} in {reader.fieldnames}; pass --column")
    for record in reader:
        yield record[column] or ""


def _field(handle, field: str, path: Path) -> Iterator[str]:
    for line_no, record, problem in jsonl_records(handle):
        if problem or field not in record:
            raise DataError(f"{path}, line {line_no}: {problem or f'no field {field!r}; pass --column'}")
        yield str(record[field])


def read_text_file(path: str | Path) -> str:
    """One text to predict from a file; a file that is not UTF-8 text (an image given to a text model)
    is an error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (this model takes text; is it an image?)") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None


def input_files(folder: Path, kind: str) -> list[Path]:
    """A folder to predict: its images (image models) or its .txt files (text models), sorted."""
    files = list_images(folder) if kind == "image" else sorted(folder.rglob("*.txt"))
    if not files:
        raise DataError(f"{folder}: no {'images' if kind == 'image' else '.txt files'} in it")
    return files
