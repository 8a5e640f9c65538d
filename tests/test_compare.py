import json
import subprocess
import sys

from tixel.commands.train import train
from tixel.core.config import validate

QUIET = dict(progress=False, log=lambda *_: None)


def test_compare_two_runs_table_json_and_chart(tiny_raw, tmp_path):
    a = train(validate(tiny_raw), **QUIET)
    tiny_raw["output"]["name"] = "frozen"
    tiny_raw["train"]["finetune"] = {"mode": "frozen"}
    b = train(validate(tiny_raw), **QUIET)
    out = tmp_path / "cmp"
    done = subprocess.run([sys.executable, "-m", "tixel", "compare", str(a.run_dir), str(b.run_dir), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "compare.json").read_text())
    assert result["metric"] == "test_accuracy" and [r["finetune"] for r in result["runs"]] == ["full", "frozen"]
    assert result["runs"][1]["metrics"]["test_accuracy"] == b.test_metrics["accuracy"]
    assert "frozen" in done.stdout and (out / "compare.png").stat().st_size > 1000
    bad = subprocess.run([sys.executable, "-m", "tixel", "compare", str(a.run_dir), str(b.run_dir), "--metric", "nope",
                          "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "shared: test_accuracy" in bad.stderr
