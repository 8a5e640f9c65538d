import gzip
import json

import pytest

from tixel.core.errors import DataError
from tixel.data import tags as tagging
from tixel.data.conll import (
    ConllData,
    NerJsonlData,
    read_conll,
    read_ner_jsonl,
    to_jsonl_record,
)
from tixel.data.words import join_tokens, split_words

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def conll(tmp_path, text, name="d.txt", **kw):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return read_conll(path, ConllData(format="conll", train=str(path), **{"tag_column": 3, **kw}))


def test_docstart_and_blank_lines_split_sentences(tmp_path):
    data = conll(tmp_path, CONLL, "d.txt.gz")
    assert data.tokens == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert data.labels[1] == ["B-PER", "I-PER"]
    assert data.where(1).endswith("d.txt.gz, line 9")


def test_iob1_is_converted_to_bio(tmp_path):
    text = "John x x I-PER\nSmith x x I-PER\nsaw x x O\nMary x x I-PER\nAnn x x B-PER\n"
    data = conll(tmp_path, text, input_scheme="iob1")
    assert data.labels == [["B-PER", "I-PER", "O", "B-PER", "B-PER"]]


def test_wrong_column_count_names_file_and_line(tmp_path):
    with pytest.raises(DataError, match=r"d.txt, line 3: 3 columns, expected 4"):
        conll(tmp_path, "EU x x B-ORG\nrejects x x O\nbad x O\n")


@pytest.mark.parametrize("policy, expected", [("repair", [["B-PER", "O"], ["B-LOC"]]), ("skip", [["B-LOC"]])])
def test_orphan_inside_tag_error_repair_or_skip(tmp_path, policy, expected):
    text = "John x x I-PER\nsaw x x O\n\nParis x x B-LOC\n"
    with pytest.raises(DataError, match=r"line 1: tag 'I-PER' follows nothing"):
        conll(tmp_path, text)
    assert conll(tmp_path, text, on_bad_line=policy).labels == expected


def test_chinese_char_tab_format_and_whitespace_only_breaks(tmp_path):
    data = conll(tmp_path, "我\tO\n爱\tO\n北\tB-LOC\n京\tI-LOC\n\t\n他\tB-PER\n", delimiter="\t", tag_column=1)
    assert data.tokens == [["我", "爱", "北", "京"], ["他"]]
    text, offsets = join_tokens(data.tokens[0])
    assert text == "我爱北京" and offsets[2] == (2, 3)


def test_jsonl_spans_round_trip(tmp_path):
    records = [{"text": "Angela Merkel visited Paris.", "entities": [[0, 13, "PER"], [22, 27, "LOC"]]},
               {"text": "我爱北京", "entities": [[2, 4, "LOC"]]}]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    data = read_ner_jsonl(path, NerJsonlData(format="ner_jsonl", train=str(path)))
    assert data.tokens[0] == ["Angela", "Merkel", "visited", "Paris", "."]
    assert data.labels[0] == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert data.labels[1] == ["O", "O", "B-LOC", "I-LOC"]
    assert to_jsonl_record(data.tokens[1], data.labels[1]) == records[1]
    back = to_jsonl_record(data.tokens[0], data.labels[0])
    assert [back["text"][s:e] for s, e, _ in back["entities"]] == ["Angela Merkel", "Paris"]


def test_jsonl_span_off_word_boundary_names_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "Paris is big", "entities": [[0, 3, "LOC"]]}) + "\n")
    with pytest.raises(DataError, match=r"d.jsonl, line 1: .*word boundaries"):
        read_ner_jsonl(path, NerJsonlData(format="ner_jsonl", train=str(path)))


def test_bioes_round_trip_and_spans():
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC"]
    bioes = tagging.bio_to_bioes(bio)
    assert bioes == ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "I-LOC", "E-LOC"]
    assert tagging.bioes_to_bio(bioes) == bio
    assert tagging.spans(bio) == tagging.spans(bioes) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 7, "LOC")]


def test_split_words_offsets():
    text = "U.S. stocks rose 3.5% in 北京 today"
    words = split_words(text)
    assert all(text[s:e] == w for w, s, e in words)
    assert [w for w, _, _ in words][:3] == ["U.S", ".", "stocks"]
    assert ("北", 25, 26) in words and ("京", 26, 27) in words
