"""What every text reader shares: the in-memory TextSet, the common schema, cleaning, bad-row policy."""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import numpy as np
from pydantic import Field

from tixel.core.config import Section
from tixel.core.errors import ConfigError, DataError
from tixel.core.log import get_logger
from tixel.data.examples import Origins
from tixel.data.images import SplitConfig

log = get_logger(__name__)


class CleanConfig(Section):
    nfkc: bool = Field(True, description="Unicode NFKC (full-width ASCII -> ASCII, ligatures split)")
    lowercase: bool = False
    whitespace: bool = Field(True, description="collapse runs of whitespace, strip the ends")
    mask_urls: bool = False
    mask_numbers: bool = False
    segment: Optional[Literal["jieba", "char_bigrams"]] = Field(None, description=(
        "Chinese tokens other than one per character: jieba, words from the jieba segmenter (the `chinese` "
        "extra); char_bigrams, the overlapping character pairs of each run of CJK characters"),
        json_schema_extra={"synonyms": ["segmenter", "word_segmentation"]})


class TokenizerConfig(Section):
    kind: Literal["auto", "wordpiece", "bpe", "word", "pretrained"] = Field(
        "auto", description="auto: the encoder's pretrained tokenizer if it has one, else wordpiece")
    vocab_size: int = Field(20000, ge=10, json_schema_extra={"synonyms": ["num_words", "max_features"]})
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    path: Optional[str] = Field(None, description="pretrained: a local HF folder or a known name (minilm-l6)")
    max_length: int = Field(256, ge=2, json_schema_extra={"synonyms": ["maxlen", "max_len", "max_seq_length"]})
    vectors_vocab: int = Field(0, ge=0, description=(
        "taggers with word vectors: also add the N most frequent words of model.encoder.vectors to the "
        "vocabulary, so a word unseen in train still gets its pretrained vector"))


class TextDataBase(Section):
    split: SplitConfig = SplitConfig()
    clean: CleanConfig = CleanConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    labels: Optional[list[str]] = Field(None, description="the label set; default: labels seen in train")
    multi_label: bool = Field(False, description="labels are lists (or separator-joined); sigmoid + BCE")
    label_separator: str = ","
    on_bad_row: Literal["error", "skip"] = "error"
    bucket: bool = Field(True, description="batch texts of similar length together")


@dataclass
class TextSet(Origins):
    texts: list[str]
    labels: Optional[list]  # str per text, or list[str] per text when multi-label
    source: str
    rows: Optional[Sequence] = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def items(self):
        return self.texts

    def subset(self, index: np.ndarray) -> "TextSet":
        labels = None if self.labels is None else [self.labels[i] for i in index]
        return TextSet([self.texts[i] for i in index], labels, self.source, self.rows_of(index))

    @property
    def stratify_labels(self):
        return self.labels if self.labels and isinstance(self.labels[0], str) else None


_URL = re.compile(r"https?://\S+|www\.\S+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")


def clean(text: str, cfg: CleanConfig) -> str:
    if cfg.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.mask_urls:
        text = _URL.sub(" <url> ", text)
    if cfg.mask_numbers:
        text = _NUMBER.sub(" <num> ", text)
    if cfg.lowercase:
        text = text.lower()
    if cfg.segment == "jieba":
        text = " ".join(w for w in _jieba().lcut(text) if not w.isspace())
    elif cfg.segment == "char_bigrams":
        text = _CJK_RUN.sub(lambda m: f" {_bigrams(m.group())} ", text)
    return _SPACE.sub(" ", text).strip() if cfg.whitespace else text


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _bigrams(run: str) -> str:
    return " ".join(run[i:i + 2] for i in range(max(1, len(run) - 1)))


@functools.cache
def _jieba():
    try:
        import jieba
    except ImportError:
        raise ConfigError("data.clean.segment: jieba needs the jieba package: pip install 'tixel[chinese]'") from None
    jieba.setLogLevel(logging.WARNING)  # it logs the building of its dictionary on first use
    return jieba


class RowCollector:
    """Collects (line, text, label) rows; applies the bad-row policy with the file and line in the message."""

    def __init__(self, path, cfg: TextDataBase):
        self.path, self.cfg = path, cfg
        self.texts, self.labels, self.rows, self.skipped = [], [], [], []

    def bad(self, line: int, why: str) -> None:
        if self.cfg.on_bad_row == "error":
            raise DataError(f"{self.path}, line {line}: {why} (set data.on_bad_row: skip to drop such rows)")
        self.skipped.append((line, why))

    def add(self, line: int, text, label) -> None:
        if not isinstance(text, str) or not text.strip():
            return self.bad(line, "empty text")
        label = self.parse_label(label)
        if label is None or label == "" or label == []:
            return self.bad(line, "empty label")
        self.texts.append(text)
        self.labels.append(label)
        self.rows.append(line)

    def parse_label(self, label):
        if self.cfg.multi_label:
            items = label if isinstance(label, list) else str(label).split(self.cfg.label_separator)
            return sorted({str(x).strip() for x in items if str(x).strip()})
        return None if label is None else str(label).strip()

    def result(self) -> TextSet:
        if not self.texts:
            raise DataError(f"{self.path}: no usable rows")
        if self.skipped:
            shown = "; ".join(f"line {line}: {why}" for line, why in self.skipped[:5])
            more = f" (+{len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            log.warning(f"{self.path}: skipped {len(self.skipped)} bad row(s): {shown}{more}")
        return TextSet(self.texts, self.labels, str(self.path), self.rows)
