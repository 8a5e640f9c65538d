"""NER throughput: sentences/s for training and for tagging, tixel's BiLSTM tagger (through its own loop
and decoder) vs a minimal plain-PyTorch BiLSTM tagger (packed sequences, softmax) in the same process.
tixel is measured with and without its CRF, since a CRF costs a forward-backward pass per batch.

Data: CoNLL-2003 train from ../shared/data/conll2003 when present (or --data), else generated sentences.

    python benchmarks/ner_throughput.py [--sentences 3000] [--batch 32]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tixel.core.config import validate
from tixel.engine import loop
from tixel.engine.finetune import parameter_groups
from tixel.engine.optim import create_optimizer, create_scheduler
from tixel.tasks import create_task

CONLL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003" / "train.txt.gz"
ENCODER = {"type": "rnn", "embedding_dim": 100, "hidden_size": 128, "bidirectional": True}


def config(data: Path, sentences: int, batch: int, crf: bool) -> dict:
    return {"task": "ner", "data": {"format": "conll", "train": str(data), "tag_column": -1,
                                    "split": {"validation": 0.0, "test": 0.0, "train_limit": sentences}},
            "model": {"encoder": ENCODER, "head": {"crf": crf}}, "train": {"batch_size": batch, "lr": 1e-3}}


def tixel_rates(raw: dict) -> tuple[float, float, object]:
    cfg = validate(raw)
    task = create_task("ner", cfg)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
    split = prepared.splits["train"]
    batches = task.batches(split, cfg.train.batch_size, shuffle=True)
    optimizer = create_optimizer(parameter_groups(model, cfg.train.lr, cfg.train.finetune), cfg.train)
    job = loop.TrainJob(model=model, optimizer=optimizer, scheduler=create_scheduler(optimizer, len(batches), cfg.train),
                        train=batches, evaluate=lambda m: {}, task=task, cfg=cfg.train, run_dir=Path("/nonexistent"))
    start = time.perf_counter()
    for _ in loop.train_epoch(job):
        pass
    train_rate = len(split.gold) / (time.perf_counter() - start)
    start = time.perf_counter()
    task.decode(model, split.inputs, prepared.labels.names, 256, torch.device("cpu"))
    return train_rate, len(split.gold) / (time.perf_counter() - start), prepared


class PlainTagger(nn.Module):
    def __init__(self, vocab: int, tags: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, ENCODER["embedding_dim"], padding_idx=0)
        self.lstm = nn.LSTM(ENCODER["embedding_dim"], ENCODER["hidden_size"], batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * ENCODER["hidden_size"], tags)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        return self.out(pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])[0])


def plain_rates(prepared, batch: int) -> tuple[float, float]:
    inputs = prepared.splits["train"].inputs
    ids, lengths, targets = inputs["input_ids"], inputs["lengths"], inputs["targets"]
    model = PlainTagger(prepared.preprocessing.vocab_size, len(prepared.labels))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    n = len(ids)
    start = time.perf_counter()
    for index in torch.randperm(n).split(batch):
        width = int(lengths[index].max())
        logits = model(ids[index, :width], lengths[index])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets[index, :width].flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    with torch.no_grad():
        for index in torch.arange(n).split(256):
            width = int(lengths[index].max())
            model(ids[index, :width], lengths[index]).argmax(-1)
    return train_rate, n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=CONLL if CONLL.exists() else None)
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    data = args.data
    if data is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from ner_data import write_conll

        data = Path(tempfile.mkdtemp()) / "train.txt"
        write_conll(data, args.sentences)
    torch.manual_seed(0)
    print(f"data {data}, {args.sentences} sentences, batch {args.batch}, {torch.get_num_threads()} threads")
    softmax_train, softmax_tag, prepared = tixel_rates(config(data, args.sentences, args.batch, crf=False))
    crf_train, crf_tag, _ = tixel_rates(config(data, args.sentences, args.batch, crf=True))
    plain_train, plain_tag = plain_rates(prepared, args.batch)
    print(f"{'':28}{'train sent/s':>14}{'tag sent/s':>12}{'train ratio':>13}{'tag ratio':>11}")
    for name, tr, tg in (("plain PyTorch BiLSTM", plain_train, plain_tag),
                         ("tixel BiLSTM (softmax)", softmax_train, softmax_tag),
                         ("tixel BiLSTM-CRF", crf_train, crf_tag)):
        print(f"{name:28}{tr:>14,.0f}{tg:>12,.0f}{tr / plain_train:>13.2f}{tg / plain_tag:>11.2f}")


if __name__ == "__main__":
    main()
