"""`tixel compare RUN ...`: the same held-out metrics of several runs side by side (from scratch, frozen,
LoRA, full fine-tuning, before and after), as a table, JSON and a PNG bar chart."""
from __future__ import annotations

import json
from pathlib import Path

from tixel.core.errors import TixelError
from tixel.core.io import atomic_path, write_text
from tixel.engine.bundle import load_bundle, resolve
from tixel.tasks.reports.plots import _pyplot


def describe(run: Path) -> dict:
    """One run: its name, how it was trained, its parameters and its held-out metrics."""
    folder = resolve(run)
    bundle = load_bundle(folder)
    cfg = bundle.config
    params = list(bundle.model.parameters())
    encoder = cfg.model.encoder
    return {"run": folder.parent.name if folder.name == "bundle" else folder.name, "path": str(folder),
            "task": cfg.task, "encoder": encoder.type, "from": getattr(encoder, "pretrained", None) or "scratch",
            "finetune": cfg.train.finetune.mode, "parameters": sum(p.numel() for p in params),
            "metrics": {k: v for k, v in bundle.metrics.items() if isinstance(v, (int, float))}}


def shared_metrics(rows: list[dict]) -> list[str]:
    """Metrics every run has, held-out splits first (test_, then val_)."""
    common = set.intersection(*(set(r["metrics"]) for r in rows)) - {"best_epoch"}
    order = lambda k: (0 if k.startswith("test_") else 1 if k.startswith("val") else 2, k)  # noqa: E731
    return sorted(common, key=order)


def compare(runs: list[str | Path], out: Path, metric: str | None = None) -> dict:
    if len(runs) < 2:
        raise TixelError("compare: give at least two runs")
    rows = [describe(Path(r)) for r in runs]
    metrics = shared_metrics(rows)
    if not metrics:
        raise TixelError("compare: these runs have no metric in common (" +
                         "; ".join(f"{r['run']}: {', '.join(sorted(r['metrics']))}" for r in rows) + ")")
    chosen = metric or metrics[0]
    if chosen not in metrics:
        raise TixelError(f"compare --metric {chosen}: not in every run; shared: {', '.join(metrics)}")
    out.mkdir(parents=True, exist_ok=True)
    result = {"metric": chosen, "metrics": metrics, "runs": rows, "table": table(rows, metrics)}
    write_text(out / "compare.json", json.dumps(result, indent=2))
    write_text(out / "compare.txt", result["table"] + "\n")
    bar_chart(rows, chosen, out / "compare.png")
    return result


def table(rows: list[dict], metrics: list[str]) -> str:
    head = ["run", "from", "finetune", "parameters", *metrics]
    body = [[r["run"], str(r["from"]), r["finetune"], f"{r['parameters']:,}",
             *(f"{r['metrics'][m]:.4f}" for m in metrics)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(b) for b in body)])


def bar_chart(rows: list[dict], metric: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows)), 4))
    values = [r["metrics"][metric] for r in rows]
    bars = ax.bar([r["run"] for r in rows], values, color="tab:blue")
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
    top = max(values) + 0.05
    ax.set_ylim(max(0.0, min(values) - 0.05), min(1.0, top) if max(values) <= 1 else top)  # differences show
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by run")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
