"""The onnxruntime backend: an exported `model.onnx` called where the torch model would be."""
from __future__ import annotations

from pathlib import Path

import torch

from tixel.core.errors import TixelError
from tixel.engine.bundle import Bundle


class OnnxModel:
    """onnxruntime in the place of the torch model: called the same way, returning a tensor. Anything
    else (a tagger's CRF decode, its loss) is the torch model's, so decoding is shared by both backends."""

    def __init__(self, file: str | Path, torch_model: torch.nn.Module):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.torch_model = torch_model

    def __call__(self, x) -> torch.Tensor:
        feed = {n: x[n].numpy() for n in self.names} if isinstance(x, dict) else {self.names[0]: x.numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])

    def eval(self) -> "OnnxModel":
        return self

    def __getattr__(self, name):
        if name == "torch_model":  # not yet set: never recurse
            raise AttributeError(name)
        return getattr(self.torch_model, name)


def onnx_model(bundle: Bundle) -> OnnxModel:
    file = bundle.path / "model.onnx"
    if not file.is_file():
        raise TixelError(f"{bundle.path}: no model.onnx; run `tixel export {bundle.path} --format onnx` first")
    return OnnxModel(file, bundle.model)
