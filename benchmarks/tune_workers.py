"""One worker against two on the same search (issue 8): `tixel tune examples/mnist-tune.yaml` run as one
process, then as two processes on one shared study, each study with its own name and storage.
Prints wall times, their ratio, trial states and the best trial's validation and test accuracy.

  .venv/bin/python benchmarks/tune_workers.py [--config examples/mnist-tune.yaml] [--trials 20]

With two workers each process gets half the cores (OMP_NUM_THREADS), so on a 2-core machine the
comparison shows the scheduling overhead more than a speed-up; on a bigger machine, or one worker per
host against one database, the trials run side by side."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run_study(config: str, name: str, workers: int, trials: int, out: Path) -> tuple[float, dict]:
    folder = out / f"tune-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    storage = f"sqlite:///{(folder / 'study.db').resolve()}"
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "tixel", "tune", config, "--storage", storage, "--trials", str(trials),
           "--set", f"search.study={name}", "--set", f"output.dir={out}"]
    started = time.perf_counter()
    procs = []
    for i in range(workers):
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        time.sleep(2 if i == 0 else 0)  # the first creates the tables; the rest would retry anyway
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed:\n{err[-3000:]}")
    seconds = time.perf_counter() - started
    summary = json.loads((folder / "summary.json").read_text())
    return seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/mnist-tune.yaml")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", default="runs/tune-bench")
    args = parser.parse_args()
    out = Path(args.out)
    results = {}
    for workers in (1, 2):
        seconds, summary = run_study(args.config, f"mnist-{workers}w", workers, args.trials, out)
        results[workers] = (seconds, summary)
        test = summary.get("best_test", {}).get("accuracy", float("nan"))
        print(f"{workers} worker(s): {seconds:7.1f} s  states {summary['states']}  best trial "
              f"{summary.get('best_number')}: val {summary.get('best_value', float('nan')):.4f}  test {test:.4f}  "
              f"{summary.get('best_params')}", flush=True)
    print(f"wall time, 2 workers / 1 worker: {results[2][0] / results[1][0]:.2f}")


if __name__ == "__main__":
    main()
