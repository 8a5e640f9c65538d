"""Text classification data in CSV, TSV or JSONL files, with configurable columns."""
from __future__ import annotations

import codecs
import csv
import gzip
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


def open_text(path: Path, encoding: str) -> "DecodedLines":
    """Plain, gzipped or one-file-zipped text, as lines (newlines kept, as csv wants); a missing file names
    the file, and bytes that are not `encoding` name their line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".zip":
        return DecodedLines(_zip_member(path), path, encoding)
    return DecodedLines(gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb"), path, encoding)


class DecodedLines:
    """A binary file decoded line by line, so an undecodable byte is reported on its own line; decoding a
    buffer at a time (io.TextIOWrapper) reports where the buffer began, often line 1."""

    def __init__(self, raw, path: Path, encoding: str):
        self.raw, self.path, self.encoding = raw, path, encoding
        self.decoder = codecs.getincrementaldecoder(encoding)()

    def __enter__(self) -> "DecodedLines":
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()

    def __iter__(self) -> Iterator[str]:
        for line_no, line in enumerate(self.raw, 1):
            try:
                yield self.decoder.decode(line)
            except UnicodeDecodeError as err:
                raise DataError(f"{self.path}, line {line_no}: not {self.encoding} text ({err.reason} at byte "
                                f"{err.start + 1} of the line)") from None


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
        # strict: a quote never closed is an error at the end of the file, instead of one field holding the rest
        reader = csv.reader(handle, delimiter="\t" if cfg.format == "tsv" else ",", strict=True,
                            quoting=csv.QUOTE_MINIMAL if cfg.quoting else csv.QUOTE_NONE)
        start = 1  # the line the current record begins on (a quoted field may span lines)
        try:
            header = next(reader, None) if cfg.header else None
            if cfg.header and header is None:
                raise DataError(f"{path}: empty (a header line was expected)")
            start = reader.line_num + 1
            t, l = _column(header, cfg.text_column, path), _column(header, cfg.label_column, path)
            width = len(header) if header else None  # without a header, the first row's width
            for record in reader:
                if record:
                    width = width or len(record)
                    if len(record) != width:
                        rows.bad(start, f"expected {width} columns, found {len(record)}")
                    else:
                        rows.add(start, record[t], record[l])
                start = reader.line_num + 1
        except csv.Error as err:
            where = "a quote opened here is never closed" if "unexpected end of data" in str(err) else str(err)
            raise DataError(f"{path}, line {start}: {where}") from None
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
