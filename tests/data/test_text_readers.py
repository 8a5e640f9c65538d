import gzip

import pytest

from tixel.core.errors import DataError
from tixel.data.tabular import DelimitedData, JsonlData, read_delimited, read_jsonl
from tixel.data.text import CleanConfig, clean
from tixel.data.text_folder import BBCNewsData, read_bbc_news, read_text_folder


def tsv_cfg(path, **kw):
    return DelimitedData(format="tsv", train=str(path), **kw)


def test_tsv_without_quoting_keeps_bare_quotes(tmp_path):
    path = tmp_path / "sst.tsv.gz"
    path.write_bytes(gzip.compress(b'label\tsentence\n1\tit \'s a "gem" \'\' really\n0\tdull\n'))
    data = read_delimited(path, tsv_cfg(path, text_column="sentence", quoting=False))
    assert data.texts == ['it \'s a "gem" \'\' really', "dull"] and data.labels == ["1", "0"]
    assert data.where(1) == f"{path}, line 3"


def test_csv_columns_by_index_and_quoted_commas(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('1,"good, very good"\n0,bad\n', encoding="utf-8")
    data = read_delimited(path, DelimitedData(format="csv", train=str(path), header=False,
                                              text_column=1, label_column=0))
    assert data.texts == ["good, very good", "bad"]


def test_malformed_rows_error_or_skip(tmp_path, caplog):
    path = tmp_path / "x.tsv"
    path.write_text("label\ttext\n1\tfine\n0\n1\t   \n0\tok\n")
    with pytest.raises(DataError, match=r"x.tsv, line 3: expected 2 columns, found 1.*on_bad_row: skip"):
        read_delimited(path, tsv_cfg(path))
    data = read_delimited(path, tsv_cfg(path, on_bad_row="skip"))
    assert data.texts == ["fine", "ok"] and data.rows == [2, 5]
    warned = [r for r in caplog.records if r.name == "tixel.data.text" and r.levelname == "WARNING"]
    assert len(warned) == 1 and "skipped 2 bad row(s): line 3: expected" in warned[0].getMessage()


def test_missing_column_and_bad_encoding(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("label,review\n1,good\n")
    with pytest.raises(DataError, match=r"line 1: no column 'text' in header \['label', 'review'\]"):
        read_delimited(path, DelimitedData(format="csv", train=str(path)))
    path.write_bytes("label,text\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"x.csv, line \d: not utf-8 text"):
        read_delimited(path, DelimitedData(format="csv", train=str(path)))


def test_jsonl_and_multi_label(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": ["x", "y"]}\n\n{"text": "b", "label": "y,z"}\n{oops\n')
    cfg = JsonlData(format="jsonl", train=str(path), multi_label=True, on_bad_row="skip")
    data = read_jsonl(path, cfg)
    assert data.labels == [["x", "y"], ["y", "z"]]
    with pytest.raises(DataError, match=r"x.jsonl, line 4: not valid JSON"):
        read_jsonl(path, JsonlData(format="jsonl", train=str(path), multi_label=True))


def test_unknown_label_names_its_line(tmp_path):
    from tixel.data.labels import LabelSet

    path = tmp_path / "x.tsv"
    path.write_text("label\ttext\n1\tgood\n7\todd\n")
    data = read_delimited(path, tsv_cfg(path))
    with pytest.raises(DataError, match=r"x.tsv, line 3: label '7' is not in the label set"):
        LabelSet(["0", "1"]).encode(data.labels, data.where)


def test_cleaning():
    cfg = CleanConfig(lowercase=True, mask_urls=True, mask_numbers=True)
    assert clean("Ｈｅｌｌｏ  see https://x.org/a?b=1 in 2,024\n", cfg) == "hello see <url> in <num>"


def test_text_folder_sorted_and_fallback_encoding(tmp_path):
    for label, name, raw in (("b", "1.txt", "beta".encode()), ("a", "2.txt", "\xa3 5".encode("cp1252"))):
        (tmp_path / label).mkdir()
        (tmp_path / label / name).write_bytes(raw)
    with pytest.raises(DataError, match=r"a/2.txt: not utf-8 text"):
        read_text_folder(tmp_path, ".txt", "utf-8")
    data = read_text_folder(tmp_path, ".txt", "utf-8", "cp1252")
    assert data.labels == ["a", "b"] and data.texts[0] == "£ 5"


def test_bbc_news_ships_2225_articles_in_5_classes():
    data = read_bbc_news(BBCNewsData(format="bbc_news"))["train"]
    assert len(data) == 2225
    assert sorted(set(data.labels)) == ["business", "entertainment", "politics", "sports", "tech"]


def csv_cfg(path, **kw):
    return DelimitedData(format="csv", train=str(path), text_column="text", label_column="label", **kw)


def test_a_row_with_extra_fields_is_a_bad_row_not_a_shifted_label(tmp_path):
    """Issue 25, item 5: the label used to come from the wrong column."""
    path = tmp_path / "x.csv"
    path.write_text("text,label\ngood film,pos\nbad, really bad,neg\nfine,pos\n")
    with pytest.raises(DataError, match=r"x.csv, line 3: expected 2 columns, found 3"):
        read_delimited(path, csv_cfg(path))
    data = read_delimited(path, csv_cfg(path, on_bad_row="skip"))
    assert data.texts == ["good film", "fine"] and data.labels == ["pos", "pos"]


def test_an_unclosed_quote_is_named_at_its_line_not_swallowing_the_file(tmp_path):
    path = tmp_path / "x.csv"
    rows = ["text,label"] + [f"row {i},pos" for i in range(20)] + ['"never closed,neg'] + [f"row {i},neg" for i in range(30)]
    path.write_text("\n".join(rows) + "\n")
    for skip in ("error", "skip"):
        with pytest.raises(DataError, match=r"x.csv, line 22: a quote opened here is never closed"):
            read_delimited(path, csv_cfg(path, on_bad_row=skip))


def test_bytes_that_are_not_the_encoding_are_named_at_their_line(tmp_path):
    path = tmp_path / "x.csv"
    lines = [b"text,label"] + [b"fine %d,pos" % i for i in range(25)] + [b"caf\xe9,neg", b"ok,pos"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=r"x.csv, line 27: not utf-8 text"):
        read_delimited(path, csv_cfg(path))


def test_an_empty_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"x.csv: empty"):
        read_delimited(path, csv_cfg(path))
