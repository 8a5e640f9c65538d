"""What a finished `tixel tune` leaves: a table of the best trials, `best.yaml` (the base config with the
best trial's values, runnable with `tixel train`), `trials.json`, and Optuna's history and importance PNGs."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import yaml

from tixel.commands.tune.space import SearchConfig, apply_point
from tixel.core.io import write_text


def trial_rows(study) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                     "epochs": t.user_attrs.get("epochs"), "test": t.user_attrs.get("test", {}),
                     "seconds": t.duration.total_seconds() if t.duration else None})
    return rows


def write_report(study, search: SearchConfig, base: dict, out_dir: Path, seconds: float, log: Callable) -> dict:
    rows = trial_rows(study)
    write_text(out_dir / "trials.json", json.dumps(rows, indent=1, default=str))
    done = [r for r in rows if r["state"] == "COMPLETE"]
    summary = {"study": study.study_name, "dir": str(out_dir), "trials": len(rows), "worker_seconds": seconds,
               "states": {s: sum(r["state"] == s for r in rows) for s in {r["state"] for r in rows}}}
    if done:
        best = study.best_trial
        summary.update(best_number=best.number, best_value=best.value, best_params=best.params,
                       best_test=best.user_attrs.get("test", {}))
        cfg = apply_point(base, best.params)
        cfg["output"] = {**cfg.get("output", {}), "name": f"{study.study_name}-best"}
        write_text(out_dir / "best.yaml", f"# best of study {study.study_name}: trial {best.number}, "
                   f"{search.metric} {best.value:.6g}\n" + yaml.safe_dump(cfg, sort_keys=False))
        summary["plots"] = plots(study, out_dir)
    write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    show_table(rows, search, log)
    return summary


def show_table(rows: list[dict], search: SearchConfig, log: Callable, top: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    done = [r for r in rows if r["value"] is not None]
    done.sort(key=lambda r: r["value"], reverse=search.resolved_direction() == "maximize")
    table = Table(title=f"best trials by {search.metric} ({len(rows)} in the study)")
    for column in ("trial", search.metric, "state", "epochs", "test acc", *search.params):
        table.add_column(column, overflow="fold")
    for r in done[:top]:
        acc = r["test"].get("accuracy")
        values = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in (r["params"].get(p) for p in search.params)]
        table.add_row(str(r["number"]), f"{r['value']:.4f}", r["state"], str(r["epochs"]),
                      "" if acc is None else f"{acc:.4f}", *values)
    Console(stderr=True, width=None if sys.stderr.isatty() else 160).print(table)


def plots(study, out_dir: Path) -> list[str]:
    """Optimisation history always; parameter importances once two trials have finished."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    written = []
    jobs = [("history.png", vis.plot_optimization_history)]
    if len([t for t in study.trials if t.state.name == "COMPLETE"]) >= 2 and len(study.best_trial.params) >= 1:
        jobs.append(("importances.png", vis.plot_param_importances))
    for name, plot in jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna marks its matplotlib backend experimental
            try:
                ax = plot(study)
            except (ValueError, RuntimeError):  # importances need parameters that varied
                continue
        ax.figure.tight_layout()
        ax.figure.savefig(out_dir / name, dpi=110)
        plt.close(ax.figure)
        written.append(name)
    return written
