"""Write the unlabelled Chinese corpus for examples/chinese-lm-pretrain.yaml: the review texts of
ChnSentiCorp's *training* split (the same seeded split examples/chnsenticorp-char-bilstm.yaml trains on,
so no validation or test review is seen in pretraining) plus every waimai_10k review, one a line.

    .venv/bin/python examples/chinese_lm_corpus.py [OUT.txt]
"""
import sys
from pathlib import Path

from tixel.core import registry
from tixel.core.config import load_config
from tixel.data.splits import make_splits

HERE = Path(__file__).parent
WAIMAI = HERE.parent.parent / "shared/data/chinese_sentiment/waimai_10k.csv.gz"


def split_texts(config: Path, **overrides) -> list[str]:
    cfg = load_config(config, [f"{k}={v}" for k, v in overrides.items()])
    return make_splits(registry.create("reader", cfg.data.format, cfg.data), cfg.data.split)["train"].items


def main(out: str) -> None:
    chn = split_texts(HERE / "chnsenticorp-char-bilstm.yaml")
    # waimai_10k is all training text here: read it with the same reader, nothing held out
    waimai = split_texts(HERE / "chnsenticorp-char-bilstm.yaml", **{
        "data.train": str(WAIMAI), "data.split.validation": 0.0, "data.split.test": 0.0})
    lines = [" ".join(t.split()) for t in chn + waimai]  # one document a line
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(t for t in lines if t) + "\n", encoding="utf-8")
    print(f"{out}: {len(chn)} ChnSentiCorp training reviews + {len(waimai)} waimai_10k reviews")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/chinese-lm-corpus.txt")
