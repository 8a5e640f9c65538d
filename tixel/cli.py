"""The command line. Argument parsing only: a command imports the heavy stack (tixel.commands.entry, or
tixel.serve.run) when it runs, so `tixel --help` never pays for importing torch."""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from tixel import __version__
from tixel.core.config import experiment_schema, load_config, to_dict
from tixel.core.errors import ConfigError, TixelError
from tixel.core.log import to_stderr

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="tixel: train, evaluate and predict with text and image models from one YAML config.")
config_app = typer.Typer(no_args_is_help=True, help="Check a config or print its JSON Schema.")
app.add_typer(config_app, name="config")

def _version(value: bool):
    if value:
        typer.echo(f"tixel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    pass


SET_HELP = "Override a config value, e.g. --set train.lr=0.01 (repeatable; the value is YAML)."


def fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg="red", err=True)
    raise typer.Exit(getattr(err, "exit_code", 1))


def guarded(fn):
    """Turn user-fixable errors into a message and an exit code instead of a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TixelError as err:
            fail(err)

    return wrapper


@app.command()
@guarded
def train(
    config: Path = typer.Argument(..., help="Experiment YAML."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    resume: Optional[Path] = typer.Option(None, help="Run folder to resume from its last checkpoint."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Train a model; writes the run folder (checkpoints, metrics.jsonl, bundle/, report/)."""
    _run(config, set_, resume, progress, "train")


PRETRAIN_TASKS = ("masked_lm", "simclr", "masked_image", "language_model")


@app.command()
@guarded
def pretrain(
    config: Path = typer.Argument(..., help="Experiment YAML with a self-supervised task (task: masked_lm)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    resume: Optional[Path] = typer.Option(None, help="Run folder to resume from its last checkpoint."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Pretrain an encoder on unlabelled data; writes RUN/encoder/, which fine-tuning loads as
    model.encoder.pretrained: RUN/encoder."""
    _run(config, set_, resume, progress, "pretrain")


def _run(config: Path, set_: list, resume: Optional[Path], progress: bool, command: str) -> None:
    run = _commands()

    cfg = load_config(config, set_)
    if command == "pretrain" and cfg.task not in PRETRAIN_TASKS:
        raise ConfigError(f"{config}: task {cfg.task} is supervised; `tixel pretrain` runs {', '.join(PRETRAIN_TASKS)} "
                          "(use `tixel train` for this config)")
    try:
        result = run.train(cfg, str(config), str(resume) if resume else None, progress=progress, log=typer.echo)
    except run.Interrupted as stop:
        sets = "".join(f" --set {shlex.quote(item)}" for item in set_)  # the same experiment: the same overrides
        typer.echo(f"interrupted: checkpoint saved. Resume with:\n  tixel {command} {config}{sets} --resume {stop}",
                   err=True)
        raise typer.Exit(130)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 wrote them and says so
        typer.echo(f"bundle: {result.bundle_dir}\nreport: {result.report_dir}")


@app.command()
@guarded
def tune(
    config: Path = typer.Argument(..., help="Experiment YAML with a search: section."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL shared by workers, e.g. "
                                          "postgresql://user@host/db (default: sqlite in RUNS/tune-STUDY/)."),
    trials: Optional[int] = typer.Option(None, help="Finished trials wanted in the study (default: search.trials)."),
):
    """Hyperparameter search (Optuna): start it N times on one --storage for N workers; rerun to resume."""

    summary = _commands().tune(str(config), set_, storage, trials, log=typer.echo)
    if "best_number" in summary:
        typer.echo(f"best trial {summary['best_number']}: {summary['best_value']:.6g} {summary['best_params']}")
    typer.echo(f"study {summary['study']}: {summary['states']}; best config and plots in "
               f"{summary['dir']}")


@app.command()
@guarded
def evaluate(
    paths: List[Path] = typer.Argument(..., help="A run folder or a bundle; several: their ensemble."),
    data: Optional[str] = typer.Option(None, help="Labelled data to evaluate on instead of the test split."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, help="Report folder (default: RUN/report, RUN/ensemble-report)."),
):
    """Per-class report (text + JSON), confusion matrix and learning curve PNGs. Given several runs, the
    report is on the mean of their class probabilities."""
    run = _commands()

    out_dir = str(out) if out else None
    if len(paths) > 1:
        result = run.evaluate_ensemble([str(p) for p in paths], set_, data, out_dir)
    else:
        result = run.evaluate_bundle(str(paths[0]), set_, data, out_dir)
    typer.echo(result["text"])
    typer.echo(f"report: {result['dir']}")


@app.command()
@guarded
def predict(
    bundle: Optional[Path] = typer.Argument(None, help="A run folder or a bundle (none with --zero-shot)."),
    files: Optional[List[Path]] = typer.Argument(None, help="Input files (images, or text files)."),
    text: List[str] = typer.Option([], "--text", help="A text to classify (repeatable)."),
    input: Optional[str] = typer.Option(None, "--input", help="A .txt (one per line), .csv/.tsv/.jsonl, or - for stdin."),
    column: Optional[str] = typer.Option(None, help="Text column or field of --input (default: text)."),
    top_k: int = typer.Option(3, "--top-k", min=1),
    format: str = typer.Option("text", "--format", help="text or jsonl"),
    zero_shot: bool = typer.Option(False, "--zero-shot", help="Classify by label names with a sentence encoder; no bundle."),
    labels: Optional[str] = typer.Option(None, help="--zero-shot: comma-separated label names."),
    template: List[str] = typer.Option([], help='--zero-shot: a prompt such as "This text is about {label}." (repeatable).'),
    encoder: str = typer.Option("minilm-l6", help="--zero-shot: a known name or a local sentence-encoder folder."),
    threshold: Optional[float] = typer.Option(None, help="--zero-shot: multi-label; every label with cosine >= this."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Stream JSONL rows to this file in batches; "
                                          "rerun the same command to resume after an interruption."),
    backend: str = typer.Option("torch", help="torch, or onnx (needs `tixel export BUNDLE --format onnx`)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="--output: inputs per batch."),
    ensemble: List[Path] = typer.Option([], "--ensemble", help="Another bundle (repeatable): predict with the "
                                        "mean of its and BUNDLE's class probabilities."),
):
    """Label and top-k probabilities for each input. With no inputs, texts are read from stdin."""
    run = _commands()

    if format not in ("text", "jsonl"):
        raise typer.BadParameter("expected text or jsonl", param_hint="--format")
    if backend not in ("torch", "onnx"):
        raise typer.BadParameter("expected torch or onnx", param_hint="--backend")
    if zero_shot:
        names = [n.strip() for n in (labels or "").split(",") if n.strip()]
        if len(names) < 2:
            raise typer.BadParameter("give at least two comma-separated labels", param_hint="--labels")
        files = ([bundle] if bundle else []) + list(files or [])  # no bundle: a positional path is an input
        predictor = run.Predictor.zero_shot(names, template or ["{label}"], encoder, threshold)
    elif bundle is None:
        raise typer.BadParameter("give a run folder or bundle, or --zero-shot --labels", param_hint="BUNDLE")
    else:
        predictor = run.Predictor.load(bundle, backend=backend)
        if ensemble:
            predictor = run.EnsemblePredictor([predictor, *(run.Predictor.load(p, backend=backend) for p in ensemble)])
    if output is not None:
        return _stream(predictor, files, text, input, column, output, top_k, batch_size)
    if files:
        rows = predictor.predict_files(files, top_k)
    else:
        texts = list(text) or _read_texts(input or "-", column)
        rows = [{"input": t, **r} for t, r in zip(texts, predictor.predict(texts, top_k))] if texts else []
    for row in rows:
        _print_row(row, format)


def _stream(predictor, files, text, source, column, output: Path, top_k: int, batch_size: int) -> None:
    run = _commands()

    load = None
    if files or (source and Path(source).is_dir()):
        kind = predictor.bundle.task.inputs
        paths = list(files or []) or run.input_files(Path(source), kind)
        records, load = ((str(p), p) for p in paths), predictor.bundle.task.load_file
    elif text:
        records = ((t, t) for t in text)
    else:
        records = ((t, t) for t in run.read_texts(source or "-", column))
    done = run.stream_predictions(predictor, records, output, top_k, batch_size, load, progress=sys.stderr.isatty())
    resumed = f" (kept {done['skipped']} rows from an earlier run)" if done["skipped"] else ""
    typer.echo(f"wrote {done['written']} rows to {output}{resumed}", err=True)


def _read_texts(source: str, column: Optional[str]) -> list:

    if source == "-" and sys.stdin.isatty():
        raise typer.BadParameter("give FILES, --text, --input, or pipe texts on stdin")
    return list(_commands().read_texts(source, column))


def _print_row(row: dict, format: str) -> None:
    if format == "jsonl" or not ({"entities", "top_k"} & row.keys()):  # a task's own row shape: as JSON
        typer.echo(json.dumps(row, ensure_ascii=False))
    elif "entities" in row:
        found = "  ".join(f"{e['text']}/{e['type']}@{e['start']}:{e['end']}" for e in row["entities"])
        typer.echo(f"{row['input']}\t{found or '(no entities)'}")
    else:
        alts = "  ".join(f"{t['label']}:{t['prob']:.3f}" for t in row["top_k"])
        shown = row["input"] if len(row["input"]) <= 60 else row["input"][:57] + "..."
        typer.echo(f"{shown}\t{row['label']}\t{alts}")


@app.command()
@guarded
def serve(
    bundles: List[str] = typer.Argument(..., help="Run folders or bundles, each PATH or NAME=PATH; "
                                        "PATH+PATH2 serves their ensemble under one name."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; the default answers this machine only."),
    port: int = typer.Option(8000, min=0, max=65535),
    backend: str = typer.Option("torch", help="torch, or onnx (each bundle needs an ONNX export)."),
    max_batch_size: int = typer.Option(32, min=1, help="Items gathered into one forward pass."),
    max_wait_ms: float = typer.Option(5.0, min=0, help="How long a request waits for others to batch with."),
    no_batching: bool = typer.Option(False, "--no-batching", help="Run every request on its own."),
    max_items: int = typer.Option(256, min=1, help="Items per request."),
    max_body_mb: float = typer.Option(10.0, min=0.001, help="Request body limit."),
    api_key_env: Optional[str] = typer.Option(None, help="Require `Authorization: Bearer $VAR` on /v1 and /metrics."),
):
    """Serve bundles over HTTP: POST /v1/models/{name}/predict, GET /v1/models, /health, /ready, /metrics, /docs."""
    import tixel.serve.run as serving  # heavy (torch, FastAPI): only when serving

    settings = serving.ServeSettings(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, batching=not no_batching,
                             max_items=max_items, max_body_bytes=int(max_body_mb * 2**20),
                             api_key=serving.api_key_from(api_key_env))
    serving.serve(bundles, host, port, backend, settings)


@app.command()
@guarded
def export(
    bundle: Path = typer.Argument(..., help="A run folder or a bundle."),
    format: str = typer.Option("onnx", "--format", help="onnx"),
    tolerance: float = typer.Option(1e-4, help="Largest allowed |onnx - torch| on the held-out examples."),
    merge: bool = typer.Option(False, "--merge", help="Fold a LoRA/IA3 adapter in; write a plain bundle to --out."),
    out: Optional[Path] = typer.Option(None, "--out", help="--merge: the new bundle's folder."),
):
    """Export the model into the bundle (model.onnx + model.onnx.data) after a parity check against torch,
    or, with --merge, fold a LoRA/IA3 adapter into a plain bundle."""
    run = _commands()

    if merge:
        if out is None:
            raise typer.BadParameter("give the merged bundle's folder", param_hint="--out")
        typer.echo(f"merged bundle: {run.merge_bundle(bundle, out)}")
        return
    report = run.export(bundle, format, tolerance)
    typer.echo(f"onnx: max |onnx - torch| {report['max_abs_diff']:.2e} over {report['batches']} batches of the "
               f"{report['examples_from']} (tolerance {report['tolerance']:g}); exported in {report['export_seconds']} s")


@app.command()
@guarded
def compare(
    runs: List[Path] = typer.Argument(..., help="Two or more run folders or bundles."),
    metric: Optional[str] = typer.Option(None, help="The metric to chart (default: the first shared test_ metric)."),
    out: Path = typer.Option(Path("runs/compare"), help="Where compare.txt, compare.json and compare.png go."),
):
    """The runs' held-out metrics side by side (e.g. scratch, frozen, LoRA, full), with a PNG bar chart."""
    run = _commands()

    result = run.compare(runs, out, metric)
    typer.echo(result["table"])
    typer.echo(f"chart: {out / 'compare.png'}")


@config_app.command("check")
@guarded
def config_check(
    config: Path = typer.Argument(..., help="Experiment YAML."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    show: bool = typer.Option(False, help="Print the config with every default filled in."),
):
    """Validate a config without running anything."""
    import yaml

    cfg = load_config(config, set_)
    typer.echo(yaml.safe_dump(to_dict(cfg), sort_keys=False) if show else f"{config}: ok ({cfg.task})")


@config_app.command("schema")
def config_schema():
    """Print the JSON Schema of the experiment config."""
    typer.echo(json.dumps(experiment_schema().model_json_schema(), indent=2))


def _commands():
    """The command implementations; deferred so that `tixel --help` does not import torch."""
    import tixel.commands.entry as entry  # heavy: torch, transformers

    to_stderr()  # library messages (skipped rows, word-vector coverage) reach the terminal
    return entry


def main() -> None:
    app(prog_name="tixel")


if __name__ == "__main__":
    main()
