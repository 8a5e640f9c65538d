"""Atomic writes (temp file in the same folder, fsync, rename) so a crash never leaves half a file,
and checkpoint loading that never unpickles arbitrary objects."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from tixel.core.errors import TixelError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_checkpoint(state: dict, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise TixelError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file: say which, never fall back to full unpickling
        raise TixelError(f"{path}: cannot load checkpoint ({err})") from None


def save_weights(model: torch.nn.Module, path: str | Path, state: dict | None = None) -> None:
    """The model's state dict (or the given part of it) as safetensors, written atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in (state or model.state_dict()).items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_weights(model: torch.nn.Module, path: str | Path, partial: bool = False) -> None:
    """Every tensor must fit, in name and shape; with `partial` (a PEFT bundle: adapter and head only) the
    model may have more. A damaged file or a misfit is an error naming the file and the tensor."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise TixelError(f"{path}: cannot read the weights ({err})") from None
    own = model.state_dict()
    misfits = [f"{k} {tuple(v.shape)} (the model's is {tuple(own[k].shape)})" for k, v in state.items()
               if k in own and own[k].shape != v.shape]
    if misfits:
        raise TixelError(f"{path}: weights do not fit the model: {'; '.join(misfits[:3])}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or (missing and not partial):
        raise TixelError(f"{path}: weights do not fit the model (missing {missing}, unexpected {unexpected})")


def fsync_dir(folder: str | Path) -> None:
    """Make a rename inside `folder` durable."""
    fd = os.open(str(folder), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
