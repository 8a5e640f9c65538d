"""SST-2 dev accuracy against labelled examples per class: zero-shot (0), few-shot SetFit at K = 8, 16,
32, 64 (mean and std over seeds), and a full fine-tune figure from a finished run. Writes a PNG.

    python benchmarks/few_shot_curve.py [--shots 8 16 32 64] [--seeds 5 3 3 5] [--full runs/sst2-minilm | --full-accuracy 0.8899]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tixel.commands.train import train
from tixel.core.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def few_shot(k: int, seeds: int, out: str) -> dict:
    """SetFit at K shots per class. The pairs per shot fall as K grows (SetFit's R = 20 at K = 8, 2 at
    K = 64) so that every K trains on about the same number of pairs, and so in about the same time."""
    pairs = max(2, round(160 / k))
    done = Path(out) / f"k{k}" / "report" / "seeds.json"
    summary = json.loads(done.read_text()) if done.exists() else {}
    if len(summary.get("runs", [])) == seeds and summary.get("options", {}).get("pairs_per_example") == pairs:
        # finished earlier with the same settings: reuse it
        return {"shots": k, "mean": summary["mean"], "std": summary["std"], "seeds": seeds, "pairs_per_example": pairs,
                "seconds": sum(r.get("seconds", 0) for r in summary["runs"])}
    cfg = load_config(ROOT / "examples" / "sst2-few-shot.yaml",
                      [f"few_shot.shots_per_class={k}", f"few_shot.seeds={list(range(seeds))}",
                       f"few_shot.pairs_per_example={pairs}",
                       f"output.dir={out}", f"output.name=k{k}", "output.overwrite=true"])
    start = time.perf_counter()
    result = train(cfg, progress=False, log=lambda *_: None)
    summary = json.loads((result.report_dir / "seeds.json").read_text())
    row = {"shots": k, "mean": summary["mean"], "std": summary["std"], "seeds": seeds, "pairs_per_example": pairs,
           "seconds": time.perf_counter() - start}
    print(json.dumps(row), flush=True)
    return row


def zero_shot(out: str) -> dict:
    cfg = load_config(ROOT / "examples" / "sst2-zero-shot.yaml", [f"output.dir={out}", "output.name=k0",
                                                                 "output.overwrite=true"])
    start = time.perf_counter()
    result = train(cfg, progress=False, log=lambda *_: None)
    return {"shots": 0, "mean": result.test_metrics["accuracy"], "std": 0.0, "seeds": 1,
            "seconds": time.perf_counter() - start}


def plot(rows: list[dict], full: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar([str(r["shots"]) for r in rows], [r["mean"] for r in rows], yerr=[r["std"] for r in rows],
                marker="o", capsize=4, label="zero-shot / SetFit (MiniLM-L6)")
    if full is not None:
        ax.axhline(full, color="grey", linestyle="--", label=f"full fine-tune, 67k examples ({full:.1%})")
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel("SST-2 dev accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5], help="shot draws: one number, or one per --shots")
    parser.add_argument("--full", type=Path, help="a finished full fine-tune run (its metrics.json gives the dev figure)")
    parser.add_argument("--full-accuracy", type=float, help="or the full fine-tune's dev accuracy as a number")
    parser.add_argument("--out", default="runs/few-shot-curve")
    args = parser.parse_args()
    seeds = args.seeds * len(args.shots) if len(args.seeds) == 1 else args.seeds
    if len(seeds) != len(args.shots):
        parser.error("--seeds takes one number, or one per --shots")
    rows = [zero_shot(args.out)] + [few_shot(k, n, args.out) for k, n in zip(args.shots, seeds)]
    rows.sort(key=lambda r: r["shots"])
    full = args.full_accuracy
    if args.full:
        metrics = json.loads((Path(args.full) / "bundle" / "metrics.json").read_text())
        full = metrics.get("val_accuracy")
    for r in rows:
        print(f"K={r['shots']:>3}  accuracy {r['mean']:.4f} ± {r['std']:.4f}  ({r['seeds']} seed(s), {r['seconds']:.0f} s)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    plot(rows, full, Path(args.out) / "sst2_shots_curve.png")
    (Path(args.out) / "curve.json").write_text(json.dumps({"rows": rows, "full": full}, indent=2))
    print(f"plot: {Path(args.out) / 'sst2_shots_curve.png'}")


if __name__ == "__main__":
    main()
