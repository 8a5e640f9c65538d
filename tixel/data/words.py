"""Words with character offsets: raw text -> the tokens a tagger labels, and tokens -> text.

CJK ideographs are one word each (as in the one-character-a-line Chinese NER corpora and BERT), so
Chinese needs no segmenter; other text splits into runs of word characters and single punctuation marks,
close to the CoNLL tokenisation.
"""
from __future__ import annotations

import re
from typing import Sequence

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+(?:['’.\-][^\W{_CJK}]+)*|\S")


def is_cjk(token: str) -> bool:
    return len(token) == 1 and re.match(rf"[{_CJK}]", token) is not None


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end exclusive) for each word of `text`."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def join_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Tokens -> text and each token's (start, end); no space is put between two CJK characters."""
    parts, offsets, pos = [], [], 0
    for i, token in enumerate(tokens):
        if i and not (is_cjk(token) and is_cjk(tokens[i - 1])):
            parts.append(" ")
            pos += 1
        parts.append(token)
        offsets.append((pos, pos + len(token)))
        pos += len(token)
    return "".join(parts), offsets
