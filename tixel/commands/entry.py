"""Everything the CLI runs, in one module, so the CLI imports the heavy stack (torch, transformers) with
one deferred import when a command runs and `tixel --help` stays free of it."""
from tixel.commands.compare import compare
from tixel.commands.ensemble import evaluate_ensemble
from tixel.commands.evaluate import evaluate_bundle
from tixel.commands.export import export, merge_bundle
from tixel.commands.train import train
from tixel.commands.tune.study import tune
from tixel.data.inputs import input_files, read_texts
from tixel.engine.loop import Interrupted
from tixel.engine.predict import EnsemblePredictor, Predictor, stream_predictions

__all__ = ["compare", "evaluate_ensemble", "evaluate_bundle", "export", "merge_bundle", "train", "tune",
           "input_files", "read_texts", "Interrupted", "EnsemblePredictor", "Predictor", "stream_predictions"]
