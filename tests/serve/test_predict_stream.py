"""predict --output: streamed in chunks, resumable, refusing to continue another input's file."""
import json
import subprocess
import sys

import pytest
from PIL import Image
from text_data import sentiment_rows, write_jsonl

from tixel.core.errors import TixelError
from tixel.engine.predict import Predictor, stream_predictions


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def predictor(runs):
    return Predictor.load(runs["sentiment"])


def interrupted(records, after: int):
    for i, record in enumerate(records):
        if i == after:
            raise KeyboardInterrupt
        yield record


def test_streamed_rows_equal_one_big_predict(predictor, tmp_path):
    texts = [r["text"] for r in sentiment_rows(50, seed=3)]
    done = stream_predictions(predictor, ((t, t) for t in texts), tmp_path / "out.jsonl", chunk=8, progress=False)
    assert done == {"skipped": 0, "written": 50, "output": str(tmp_path / "out.jsonl")}
    expected = [{"input": t, **r} for t, r in zip(texts, predictor.predict(texts))]
    assert_same_rows(rows_of(tmp_path / "out.jsonl"), expected)


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    """Same inputs, labels and ranking; probabilities to 1e-5, since chunks of 8 pad differently from one
    batch of 50 and the rounded sixth decimal can then differ by one."""
    assert [(r["input"], r["label"], [k["label"] for k in r["top_k"]]) for r in got] == \
        [(r["input"], r["label"], [k["label"] for k in r["top_k"]]) for r in expected]

    def probs(rows):
        return [k["prob"] for r in rows for k in r["top_k"]]

    assert probs(got) == pytest.approx(probs(expected), abs=1e-5)


def test_interrupted_run_resumes_where_it_stopped(predictor, tmp_path):
    texts = [r["text"] for r in sentiment_rows(50, seed=4)]
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        stream_predictions(predictor, interrupted(((t, t) for t in texts), 21), out, chunk=8, progress=False)
    assert len(rows_of(out)) == 16  # two whole chunks landed; the third was never written
    with out.open("a") as handle:
        handle.write('{"input": "torn')  # a crash in the middle of a line
    done = stream_predictions(predictor, ((t, t) for t in texts), out, chunk=8, progress=False)
    assert done["skipped"] == 16 and done["written"] == 34
    assert [r["input"] for r in rows_of(out)] == texts


def test_resume_refuses_an_output_of_other_inputs(predictor, tmp_path):
    out = tmp_path / "out.jsonl"
    stream_predictions(predictor, [("a", "a"), ("b", "b")], out, progress=False)
    with pytest.raises(TixelError, match="another input"):
        stream_predictions(predictor, [("a", "a"), ("c", "c"), ("d", "d")], out, progress=False)


def test_cli_output_for_csv_and_image_folder(runs, tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    csv = tmp_path / "in.csv"
    csv.write_text("id,text\n" + "".join(f"{i},{r['text']}\n" for i, r in enumerate(sentiment_rows(30))))
    cli = [sys.executable, "-m", "tixel", "predict"]
    done = subprocess.run(cli + [str(runs["sentiment"]), "--input", str(csv), "--output", str(tmp_path / "t.jsonl"),
                                 "--batch-size", "7"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(rows_of(tmp_path / "t.jsonl")) == 30 and "wrote 30 rows" in done.stderr
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(load_digits().images[:5]):
        Image.fromarray((img * 16).clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    done = subprocess.run(cli + [str(runs["digits"]), "--input", str(folder), "--output", str(tmp_path / "i.jsonl")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [r["input"] for r in rows_of(tmp_path / "i.jsonl")] == [str(folder / f"{i}.png") for i in range(5)]


def test_jsonl_input_file(predictor, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", sentiment_rows(5))
    from tixel.data.inputs import read_texts

    stream_predictions(predictor, ((t, t) for t in read_texts(path)), tmp_path / "o.jsonl", progress=False)
    assert len(rows_of(tmp_path / "o.jsonl")) == 5


def test_wrong_inputs_are_clear_errors(predictor, runs, tmp_path):
    """Issue 25, item 6: each of these was a traceback."""
    from tixel.core.errors import DataError

    png = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(png)
    with pytest.raises(DataError, match=r"x.png: not UTF-8 text"):
        predictor.predict_files([png])  # a text bundle given an image
    images = Predictor.load(runs["digits"])
    with pytest.raises(DataError, match=r"takes images .* got text"):
        images.predict(["a sentence"])  # an image bundle given --text
    garbage = tmp_path / "out.jsonl"
    garbage.write_text('{"input": "a", "label": "pos"}\nnot json\n{"input": "c", "label": "pos"}\n')
    with pytest.raises(TixelError, match=r"out.jsonl, line 2: not a JSON row"):
        stream_predictions(predictor, ((t, t) for t in "abc"), garbage, progress=False)


def test_resuming_checks_every_kept_row_not_only_the_last(predictor, tmp_path):
    texts = [r["text"] for r in sentiment_rows(12, seed=5)]
    out = tmp_path / "out.jsonl"
    stream_predictions(predictor, ((t, t) for t in texts[:6]), out, chunk=3, progress=False)
    rows = rows_of(out)
    rows[2]["input"] = "an earlier row of another input"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TixelError, match=r"row 3 is for 'an earlier row of another input'"):
        stream_predictions(predictor, ((t, t) for t in texts), out, chunk=3, progress=False)
