"""Generated NER data for tests: sentences whose entities come from small name lists, so a tiny tagger
learns them in a few epochs."""
import random

PEOPLE = [["Angela", "Merkel"], ["John"], ["Mary", "Ann", "Smith"], ["Peter"], ["Wang", "Wei"]]
PLACES = [["Paris"], ["New", "York"], ["Berlin"], ["Tokyo"], ["San", "Francisco"]]
FILLER = "the a met in visited yesterday from today and with near went saw".split()


def sentence(rng: random.Random) -> tuple[list, list]:
    words, tags = [], []
    for _ in range(rng.randint(2, 4)):
        for _ in range(rng.randint(1, 3)):
            words.append(rng.choice(FILLER))
            tags.append("O")
        kind, names = rng.choice([("PER", PEOPLE), ("LOC", PLACES)])
        name = rng.choice(names)
        words += name
        tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
    return words, tags


def write_conll(path, n: int, seed: int = 0, docstart: bool = True) -> None:
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for _ in range(n):
        for w, t in zip(*sentence(rng)):
            lines.append(f"{w} NNP B-NP {t}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


CHINESE = [("北京", "LOC"), ("上海", "LOC"), ("王伟", "PER"), ("李娜", "PER")]
ZH_FILLER = "我在去了今天和看见"


def write_chinese(path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        for _ in range(rng.randint(1, 3)):
            for c in rng.sample(ZH_FILLER, 2):
                lines.append(f"{c}\tO")
            name, kind = rng.choice(CHINESE)
            lines += [f"{name[0]}\tB-{kind}"] + [f"{c}\tI-{kind}" for c in name[1:]]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def ner_config(tmp_path, encoder: dict, epochs: int = 6, **data) -> dict:
    if "train" not in data:
        write_conll(tmp_path / "train.txt", 240, seed=0)
        write_conll(tmp_path / "test.txt", 60, seed=1)
        data.update(train=str(tmp_path / "train.txt"), test=str(tmp_path / "test.txt"), tag_column=3)
    return {
        "task": "ner", "seed": 0,
        "data": {"format": "conll", "split": {"validation": 0.15, "test": 0.0}, **data},
        "model": {"encoder": encoder, "head": {"crf": True}},
        "train": {"epochs": epochs, "batch_size": 16, "lr": 0.01, "monitor": "val_f1"},
        "output": {"dir": str(tmp_path / "runs"), "name": "ner"},
    }
