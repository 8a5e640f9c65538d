"""Tag schemes: IOB1 -> BIO (IOB2), BIO <-> BIOES, repair of invalid BIO, and spans <-> tags."""
from __future__ import annotations

from typing import Callable, Optional, Sequence


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
        raise ValueError(f"tag {tag!r} is not O or B-/I-/E-/S-TYPE")
    return tag[0], tag[2:]


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 starts an entity with I- unless it directly follows one of the same type."""
    out, prev = [], "O"
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and (prev == "O" or split_tag(prev)[1] != kind):
            tag = f"B-{kind}"
        out.append(tag)
        prev = tag
    return out


def invalid_positions(tags: Sequence[str]) -> list[int]:
    """Positions of I- tags that continue nothing (BIO)."""
    bad, prev = [], "O"
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "I" and (prev == "O" or split_tag(prev)[1] != kind):
            bad.append(i)
        prev = tag
    return bad


def repair_bio(tags: Sequence[str]) -> list[str]:
    """An orphan I-X becomes B-X (the reading conlleval uses)."""
    return iob1_to_bio(tags)


def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities as (start, end exclusive, type) over token positions, from BIO or BIOES tags."""
    found, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, t = split_tag(tag)
        continues = prefix in ("I", "E") and start is not None and t == kind
        if start is not None and not continues:
            found.append((start, i, kind))
            start = None
        if prefix in ("B", "S") or (prefix in ("I", "E") and start is None):
            start, kind = i, t
        if prefix in ("E", "S") and start is not None:
            found.append((start, i + 1, kind))
            start = None
    return found


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    out = ["O"] * len(tags)
    for start, end, kind in spans(tags):
        if end - start == 1:
            out[start] = f"S-{kind}"
        else:
            out[start], out[end - 1] = f"B-{kind}", f"E-{kind}"
            out[start + 1: end - 1] = [f"I-{kind}"] * (end - start - 2)
    return out


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    return [t if t == "O" else ("B" if t[0] in "BS" else "I") + t[1:] for t in tags]


def spans_to_bio(n: int, entities: Sequence[tuple[int, int, str]],
                 on_overlap: Optional[Callable[[tuple], None]] = None) -> list[str]:
    """Token-position spans -> BIO tags; an entity overlapping an earlier one is reported, then dropped."""
    tags = ["O"] * n
    for start, end, kind in sorted(entities):
        if any(t != "O" for t in tags[start:end]):
            if on_overlap:
                on_overlap((start, end, kind))
            continue
        tags[start] = f"B-{kind}"
        tags[start + 1: end] = [f"I-{kind}"] * (end - start - 1)
    return tags
