"""Text training throughput: the seed LSTM (Embedding(10000, 128) -> LSTM(128) -> Dense(2), maxlen 500)
and MiniLM-L6 fine-tuning, each through tixel's loop vs a minimal plain-PyTorch loop in the same process;
Keras `model.fit` for the seed LSTM when TensorFlow is importable; tokenizer tokens/s. Ratios printed.

    python benchmarks/text_throughput.py [--samples 640] [--repeats 2] [--skip-minilm] [--skip-lstm]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import tixel_epoch_rate
from torch import nn

from tixel.core.config import validate
from tixel.data.batching import TensorBatches


def seed_lstm_config(encoder: dict, batch: int) -> dict:
    return {"task": "text_classification", "data": {"format": "csv", "train": "unused.csv"},
            "model": {"encoder": encoder}, "train": {"batch_size": batch, "lr": 1e-3}}


def fake_batch_inputs(n: int, length: int, vocab: int) -> dict:
    ids = torch.randint(5, vocab, (n, length))
    lengths = torch.full((n,), length)
    return {"input_ids": ids, "attention_mask": torch.ones(n, length, dtype=torch.long), "lengths": lengths}


class Spec:
    def __init__(self, vocab_size, hf_config=None, max_length=512):
        self.vocab_size, self.pad_id, self.max_length, self.hf_config = vocab_size, 0, max_length, hf_config

    def vocab(self):
        return {}


def tixel_epoch(raw_cfg: dict, spec, inputs: dict, targets: torch.Tensor, batch: int) -> float:
    from tixel.models import build_classifier

    cfg = validate(raw_cfg)
    model = build_classifier(cfg.model, spec, 2)
    return tixel_epoch_rate(model, TensorBatches(inputs, targets, batch, shuffle=True, bucket=True), cfg)


class PlainLSTM(nn.Module):
    """The seed's network as a PyTorch user writes it; LSTM(128, dropout=0.2) drops the LSTM's inputs."""

    def __init__(self):
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(10000, 128), nn.LSTM(128, 128, batch_first=True), nn.Linear(128, 2)
        self.drop = nn.Dropout(0.2)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.drop(self.emb(ids)))
        return self.out(h[-1])


def plain_epoch(model: nn.Module, forward, inputs: dict, targets: torch.Tensor, batch: int, lr: float) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # a PyTorch training loop starts with model.train(), as PyTorch's own tutorial loops do. Without it the
    # MiniLM backbone stayed in the eval mode `from_pretrained` leaves it in and trained without its dropout
    # (0.1 on hidden states and attention): ~12% less work per step than tixel's loop, which (rightly) trains
    # in train mode, so the 0.79x compared different computations. PlainLSTM, a fresh nn.Module, is
    # in train mode already: its figures do not change.
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(targets))
    for i in range(0, len(targets), batch):
        index = order[i : i + batch]
        loss = nn.functional.cross_entropy(forward(model, {k: v[index] for k, v in inputs.items()}), targets[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(targets) / (time.perf_counter() - start)


def keras_lstm_epoch(inputs: dict, targets: torch.Tensor, batch: int) -> float | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    k = tf.keras
    model = k.Sequential([k.layers.Input((inputs["input_ids"].shape[1],)), k.layers.Embedding(10000, 128),
                          k.layers.LSTM(128, dropout=0.2), k.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x, y = inputs["input_ids"].numpy(), targets.numpy()
    model.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return len(y) / (time.perf_counter() - start)


def report(name: str, rates: dict) -> None:
    base = rates["plain torch"]
    parts = [f"{k} {v:,.1f}/s" + ("" if k == "plain torch" else f" ({v / base:.2f}x plain)") for k, v in rates.items() if v]
    if rates.get("keras"):
        parts.append(f"tixel/keras {rates['tixel'] / rates['keras']:.2f}x")
    print(f"{name}: " + "  ".join(parts), flush=True)


def seed_lstm(args) -> None:
    inputs, targets = fake_batch_inputs(args.samples, 500, 10000), torch.randint(0, 2, (args.samples,))
    encoder = {"type": "rnn", "embedding_dim": 128, "hidden_size": 128, "dropout": 0.2, "pooling": "last"}
    best = {"tixel": 0.0, "tixel, flush_denormals off": 0.0, "plain torch": 0.0, "keras": 0.0}
    unflushed = seed_lstm_config(encoder, 32)
    unflushed["train"]["flush_denormals"] = False
    for _ in range(args.repeats):
        best["tixel"] = max(best["tixel"], tixel_epoch(seed_lstm_config(encoder, 32), Spec(10000), inputs, targets, 32))
        best["tixel, flush_denormals off"] = max(best["tixel, flush_denormals off"],
                                                 tixel_epoch(unflushed, Spec(10000), inputs, targets, 32))
        fwd = lambda m, b: m(b["input_ids"])
        best["plain torch"] = max(best["plain torch"], plain_epoch(PlainLSTM(), fwd, inputs, targets, 32, 1e-3))
        best["keras"] = max(best["keras"], keras_lstm_epoch(inputs, targets, 32) or 0.0)
    report("seed LSTM, batch 32, length 500", best)


def minilm(args) -> None:
    import json

    from transformers import AutoModel

    from tixel.data.pretrained import resolve

    path = resolve("minilm-l6")
    hf = json.loads((path / "config.json").read_text())
    n = max(64, args.samples // 4)
    inputs, targets = fake_batch_inputs(n, 64, 30000), torch.randint(0, 2, (n,))
    raw = seed_lstm_config({"type": "transformer", "pretrained": "minilm-l6"}, 32)
    raw["train"]["lr"] = 5e-5
    best = {"tixel": 0.0, "plain torch": 0.0}

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert, self.out = AutoModel.from_pretrained(path, local_files_only=True), nn.Linear(384, 2)

    def fwd(m, b):
        return m.out(m.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state.mean(1))

    for _ in range(args.repeats):
        best["tixel"] = max(best["tixel"], tixel_epoch(raw, Spec(30522, hf), inputs, targets, 32))
        best["plain torch"] = max(best["plain torch"], plain_epoch(Plain(), fwd, inputs, targets, 32, 5e-5))
    report("MiniLM-L6 fine-tuning, batch 32, length 64", best)


def tokenizer_speed() -> None:
    from tixel.data.text import TokenizerConfig
    from tixel.data.tokenize import encode, train_tokenizer

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(words, 40)) for _ in range(20000)]
    tok = train_tokenizer(texts, TokenizerConfig(kind="wordpiece", vocab_size=8000))
    start = time.perf_counter()
    out = encode(tok, texts, 512)
    rate = int(out["lengths"].sum()) / (time.perf_counter() - start)
    start = time.perf_counter()
    py_tokens = sum(len(t.split()) for t in texts)  # the floor: Python's own str.split, no vocabulary lookup
    print(f"tokenizer (WordPiece, batch encode + padding): {rate:,.0f} tokens/s; "
          f"str.split alone {py_tokens / (time.perf_counter() - start):,.0f} tokens/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--skip-lstm", action="store_true", help="skip the tokenizer and seed-LSTM measurements")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeats}")
    if not args.skip_lstm:
        tokenizer_speed()
        seed_lstm(args)
    if not args.skip_minilm:
        minilm(args)


if __name__ == "__main__":
    main()
