"""Small generated text corpora for the text tests (a user's clone has no benchmark data)."""
import json
import random

POSITIVE = ["great", "wonderful", "superb", "delightful", "moving", "brilliant"]
NEGATIVE = ["awful", "boring", "dreadful", "clumsy", "tedious", "terrible"]
FILLER = ["the", "film", "was", "a", "plot", "actors", "really", "story", "quite", "and", "with", "ending"]


def sentiment_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def text_config(tmp_path, encoder: dict, n: int = 240, **train) -> dict:
    return {
        "task": "text_classification",
        "seed": 0,
        "data": {"format": "jsonl", "train": write_jsonl(tmp_path / "train.jsonl", sentiment_rows(n)),
                 "split": {"validation": 0.2, "test": 0.2}, "tokenizer": {"vocab_size": 200, "max_length": 32}},
        "model": {"encoder": encoder},
        "train": {"epochs": 4, "batch_size": 16, "lr": 0.005, "monitor": "val_accuracy", **train},
        "output": {"dir": str(tmp_path / "runs"), "name": "text"},
    }
