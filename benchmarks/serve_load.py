"""Serving under load: `tixel serve` on loopback, a bounded number of requests at several concurrencies,
for batching off, batching on and the onnxruntime backend; a MiniLM text classifier and the MNIST CNN.
Also in-process single-item latency: torch eager vs torch.compile vs onnxruntime. Prints ratios.

    python benchmarks/serve_load.py [--requests 1000] [--concurrency 1 8 32] [--out runs/serve-bench]

It trains the two bundles it needs (briefly: only their speed is measured) from ../shared/data when
present (MNIST, SST-2 sentences), else from the bundled digits and generated sentences, and exports both.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUIET = dict(progress=False, log=lambda *_: None)


def sentences() -> list[str]:
    dev = SHARED / "sst2" / "dev.tsv.gz"
    if dev.exists():
        return [line.rstrip("\n").split("\t")[1] for line in gzip.open(dev, "rt")][1:]
    words = "the film was a wonderful story with boring actors and a moving ending really quite".split()
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 20)) for _ in range(500)]


def minilm_bundle(out: Path, texts: list[str]) -> Path:
    from tixel.commands.train import train
    from tixel.core.config import validate

    rows = out / "minilm-train.jsonl"
    rows.write_text("".join(json.dumps({"text": t, "label": ["neg", "pos"][i % 2]}) + "\n" for i, t in enumerate(texts[:64])))
    cfg = {"task": "text_classification", "seed": 0,
           "data": {"format": "jsonl", "train": str(rows), "split": {"validation": 0.25},
                    "tokenizer": {"max_length": 64}},
           "model": {"encoder": {"type": "transformer", "pretrained": "minilm-l6", "pooling": "mean"}},
           "train": {"epochs": 1, "batch_size": 16, "lr": 2e-5},
           "output": {"dir": str(out), "name": "minilm", "overwrite": True}}
    return train(validate(cfg), **QUIET).run_dir


def cnn_bundle(out: Path) -> Path:
    from tixel.commands.train import train
    from tixel.core.config import load_config, validate

    if (SHARED / "mnist").exists():
        cfg = load_config(ROOT / "examples" / "mnist-seed-cnn.yaml",
                          ["train.epochs=1", f"output.dir={out}", "output.name=mnist-cnn", "output.overwrite=true"])
    else:
        cfg = validate({"task": "image_classification", "data": {"format": "digits"},
                        "model": {"encoder": {"type": "cnn", "blocks": [{"channels": 32}]}}, "train": {"epochs": 1},
                        "output": {"dir": str(out), "name": "mnist-cnn", "overwrite": True}})
    os.chdir(ROOT)  # the example's data paths are relative to the repository root
    return train(cfg, **QUIET).run_dir


def images(n: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(buf, format="PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


class Server:
    def __init__(self, name: str, bundle: Path, flags: list[str]):
        from tixel.serve.run import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "tixel", "serve", f"{name}={bundle}", "--port",
                                      str(self.port), *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("server not ready")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(60)


async def load(url: str, name: str, items: list, requests: int, concurrency: int) -> dict:
    """`requests` single-item requests from `concurrency` callers; latency of each, and the rate."""
    latencies, counter = [], iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def caller():
            for i in counter:
                start = time.perf_counter()
                reply = await client.post(f"{url}/v1/models/{name}/predict", json={"inputs": [items[i % len(items)]]})
                reply.raise_for_status()
                latencies.append(time.perf_counter() - start)

        await caller_warmup(client, url, name, items)
        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {"rps": requests / seconds, "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


async def caller_warmup(client, url, name, items) -> None:
    for item in items[:5]:
        (await client.post(f"{url}/v1/models/{name}/predict", json={"inputs": [item]})).raise_for_status()


MODES = {"batching off": ["--no-batching"], "batching on": ["--max-batch-size", "32", "--max-wait-ms", "5"],
         "onnx, off": ["--backend", "onnx", "--no-batching"],
         "onnx, on": ["--backend", "onnx", "--max-batch-size", "32", "--max-wait-ms", "5"]}


def serve_table(name: str, bundle: Path, items: list, requests: int, levels: list[int]) -> dict:
    results = {}
    for mode, flags in MODES.items():
        with Server(name, bundle, flags) as server:
            for c in levels:
                r = asyncio.run(load(server.url, name, items, requests, c))
                results[(mode, c)] = r
                print(f"{name:9} {mode:13} c={c:<3} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}  "
                      f"p99 {r['p99']:7.1f} ms", flush=True)
    return results


def single_item_latency(bundle: Path, items: list, repeats: int = 200) -> dict:
    """In-process ms per single-item prediction: eager, torch.compile (after its warm-up), onnxruntime."""
    import torch

    from tixel.engine.predict import Predictor

    out = {}
    eager, onnx = Predictor.load(bundle), Predictor.load(bundle, backend="onnx")
    compiled = Predictor.load(bundle)
    start = time.perf_counter()
    compiled.bundle.model = torch.compile(compiled.bundle.model, dynamic=True)
    compiled.predict(items[:1])
    out["compile_seconds"] = time.perf_counter() - start
    for label, p in (("eager", eager), ("compile", compiled), ("onnx", onnx)):
        p.predict(items[:3])
        start = time.perf_counter()
        for i in range(repeats):
            p.predict([items[i % len(items)]])
        out[label] = (time.perf_counter() - start) / repeats * 1000
    return out


def decoded(items: list[str]) -> list:
    from tixel.data.images import load_image

    return [load_image(io.BytesIO(base64.b64decode(x)), None, None) for x in items]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "serve-bench")
    parser.add_argument("--models", nargs="+", default=["mnist-cnn", "minilm"], choices=["mnist-cnn", "minilm"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from tixel.commands.export import export_onnx

    texts, pngs = sentences(), images(256)
    makers = {"minilm": lambda: minilm_bundle(args.out, texts), "mnist-cnn": lambda: cnn_bundle(args.out)}
    bundles = {name: makers[name]() for name in args.models}
    for b in bundles.values():
        print(f"export {b.name}: {export_onnx(b)['export_seconds']} s", flush=True)
    summary = {}
    for name, items, raw in (("mnist-cnn", pngs, decoded(pngs)), ("minilm", texts, texts)):
        if name not in bundles:
            continue
        table = serve_table(name, bundles[name], items, args.requests, args.concurrency)
        single = single_item_latency(bundles[name], raw)
        top = max(args.concurrency)
        ratios = {f"batching on / off at c={top}": table[("batching on", top)]["rps"] / table[("batching off", top)]["rps"],
                  "onnx / eager, single requests over HTTP (c=1, no batching)":
                      table[("onnx, off", 1)]["rps"] / table[("batching off", 1)]["rps"] if 1 in args.concurrency else None,
                  "onnx / eager, in-process single item": single["eager"] / single["onnx"],
                  "compile / eager, in-process single item": single["eager"] / single["compile"]}
        print(f"{name}: in-process ms per single item: eager {single['eager']:.2f}, torch.compile {single['compile']:.2f} "
              f"(compile {single['compile_seconds']:.0f} s), onnxruntime {single['onnx']:.2f}")
        for k, v in ratios.items():
            if v is not None:
                print(f"{name}: {k}: {v:.2f}x")
        summary[name] = {"table": {f"{m} c={c}": r for (m, c), r in table.items()}, "single_ms": single, "ratios": ratios}
    (args.out / f"serve_load-{'-'.join(args.models)}.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/serve_load-{'-'.join(args.models)}.json")


if __name__ == "__main__":
    main()
