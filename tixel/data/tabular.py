"""Text classification data in CSV, TSV or JSONL files, with configurable columns."""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Iterator, Literal, Optional, Union

from pydantic import Field

from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.splits import SplitFiles, read_split_files
from tixel.data.text import RowCollector, TextDataBase, TextSet


class DelimitedData(TextDataBase, SplitFiles):
    format: Literal["csv", "tsv"]
    text_column: Union[str, int] = Field("text", description="a header name, or a 0-based index")
    label_column: Union[str, int] = "label"
    header: bool = True
    quoting: bool = Field(True, description="false for files with bare quotes (SST-2)")
    encoding: str = "utf-8"


class JsonlData(TextDataBase, SplitFiles):
    format: Literal["jsonl"]
    text_field: str = "text"
    label_field: str = "label"
    encoding: str = "utf-8"


def open_text(path: Path, encoding: str):
    """Plain or gzipped text; a missing file or a wrong encoding names the file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".zip":
        return io.TextIOWrapper(_zip_member(path), encoding=encoding, newline="")
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _zip_member(path: Path):
    """The one data file in a .zip (as the MSRA NER corpus is shipped)."""
    import zipfile

    archive = zipfile.ZipFile(path)
    names = [n for n in archive.namelist() if not n.endswith("/")]
    if len(names) != 1:
        raise DataError(f"{path}: expected one file in the zip, found {len(names)}: {names[:5]}")
    return archive.open(names[0])


def _column(header: Optional[list], column, path: Path) -> int:
    if isinstance(column, int):
        return column
    if header is None:
        raise DataError(f"{path}: column {column!r} given by name but data.header is false; use an index")
    if column not in header:
        raise DataError(f"{path}, line 1: no column {column!r} in header {header}")
    return header.index(column)


def read_delimited(path: str | Path, cfg: DelimitedData) -> TextSet:
    path = Path(path)
    rows = RowCollector(path, cfg)
    with open_text(path, cfg.encoding) as handle:
        reader = csv.reader(handle, delimiter="\t" if cfg.format == "tsv" else ",",
                            quoting=csv.QUOTE_MINIMAL if cfg.quoting else csv.QUOTE_NONE)
        try:
            header = next(reader) if cfg.header else None
            t, l = _column(header, cfg.text_column, path), _column(header, cfg.label_column, path)
            for record in reader:
                if not record:
                    continue
                if len(record) <= max(t, l):
                    rows.bad(reader.line_num, f"expected at least {max(t, l) + 1} columns, found {len(record)}")
                    continue
                rows.add(reader.line_num, record[t], record[l])
        except UnicodeDecodeError as err:
            raise DataError(f"{path}, line {reader.line_num + 1}: not {cfg.encoding} text ({err.reason})") from None
        except csv.Error as err:
            raise DataError(f"{path}, line {reader.line_num}: {err}") from None
    return rows.result()


def jsonl_records(handle) -> Iterator[tuple[int, Optional[dict], Optional[str]]]:
    """(line number, the object or None, what is wrong or None) for each non-blank line."""
    for line_no, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield line_no, None, f"not valid JSON ({err.msg})"
            continue
        yield (line_no, record, None) if isinstance(record, dict) else (line_no, None, "expected a JSON object")


def read_jsonl(path: str | Path, cfg: JsonlData) -> TextSet:
    path = Path(path)
    rows = RowCollector(path, cfg)
    with open_text(path, cfg.encoding) as handle:
        for line_no, record, problem in jsonl_records(handle):
            if problem:
                rows.bad(line_no, problem)
            else:
                rows.add(line_no, record.get(cfg.text_field), record.get(cfg.label_field))
    return rows.result()


def _splits(cfg, read) -> dict[str, TextSet]:
    return read_split_files(cfg, lambda path: read(path, cfg))


register_reader("csv", DelimitedData)(lambda cfg: _splits(cfg, read_delimited))
register_reader("tsv", DelimitedData)(lambda cfg: _splits(cfg, read_delimited))
register_reader("jsonl", JsonlData)(lambda cfg: _splits(cfg, read_jsonl))
