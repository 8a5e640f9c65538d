"""Masked-LM training steps/s with the head on the masked positions only (tixel) against scoring every
position (what transformers' BertForMaskedLM does), same model, same batches, same process.

    python benchmarks/mlm_head.py [--config examples/sst2-mlm-pretrain.yaml] [--sentences 6400] [--steps 40]
"""
from __future__ import annotations

import argparse
import time

import torch

from tixel.core.config import load_config
from tixel.tasks import create_task
from tixel.tasks.pretrain.common import token_loss
from tixel.tasks.pretrain.mlm import MaskedLM


class EveryPositionMLM(MaskedLM):
    def forward(self, batch: dict, labels=None):
        logits = self.head(self.encoder.sequence(batch))
        return logits, token_loss(logits, labels)


def steps_per_s(model, task, split, batch_size: int, steps: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    batches = iter(task.batches(split, batch_size, shuffle=True, bucket=True).epoch())
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        x, labels = task.transform(next(batches))
        _, loss = model(x, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/sst2-mlm-pretrain.yaml")
    parser.add_argument("--sentences", type=int, default=6400)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cfg = load_config(args.config, [f"data.split.train_limit={args.sentences}"])
    task = create_task(cfg.task, cfg)
    prepared = task.prepare(cfg)
    split = prepared.splits["train"]
    rates = {"masked positions only (tixel)": [], "every position (BertForMaskedLM)": []}
    for _ in range(args.repeats):
        for name, cls in zip(rates, (MaskedLM, EveryPositionMLM)):
            torch.manual_seed(0)
            model = task.build_model(cfg, prepared.labels, prepared.preprocessing)
            model.__class__ = cls  # the same weights and modules; only forward differs
            rates[name].append(steps_per_s(model, task, split, cfg.train.batch_size, args.steps))
    best = {name: max(r) for name, r in rates.items()}
    for name, rate in best.items():
        print(f"{name:36s} {rate:7.2f} steps/s  (batch {cfg.train.batch_size})")
    print(f"ratio: {best['masked positions only (tixel)'] / best['every position (BertForMaskedLM)']:.2f}x")


if __name__ == "__main__":
    main()
