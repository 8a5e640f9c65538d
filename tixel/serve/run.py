"""`tixel serve`: name the bundles, build the app, run uvicorn on loopback unless told otherwise."""
from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

from tixel.core.errors import TixelError
from tixel.engine.bundle import inspect_bundle, resolve
from tixel.engine.predict import EnsemblePredictor, Predictor
from tixel.serve.app import create_app
from tixel.serve.limits import ServeSettings


def model_sources(specs: Sequence[str], backend: str = "torch") -> dict:
    """`PATH` or `NAME=PATH` -> {name: loader}; a name defaults to the run folder's name. `PATH+PATH2+...`
    serves the ensemble of those bundles (the mean of their class probabilities) under one name."""
    models = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        folders = [resolve(p) for p in _members(path)]
        for folder in folders:  # a damaged bundle stops `tixel serve` before it binds a port
            inspect_bundle(folder)
        name = name or (folders[0].parent.name if folders[0].name == "bundle" else folders[0].name)
        if name in models:
            raise TixelError(f"two models are named {name!r}; name them with NAME=PATH")
        models[name] = lambda folders=folders: _load(folders, backend)
    return models


def _members(path: str) -> list[str]:
    # a '+' that is part of an existing file name is not a separator
    return [path] if os.path.exists(path) or "+" not in path else path.split("+")


def _load(folders: list, backend: str):
    members = [Predictor.load(f, backend=backend) for f in folders]
    return members[0] if len(members) == 1 else EnsemblePredictor(members)


def api_key_from(env: str | None) -> str | None:
    if env is None:
        return None
    key = os.environ.get(env, "")
    if not key:
        raise TixelError(f"--api-key-env {env}: that environment variable is empty or unset")
    return key


def serve(specs: Sequence[str], host: str = "127.0.0.1", port: int = 8000, backend: str = "torch",
          settings: ServeSettings | None = None, log_level: str = "info") -> None:
    import uvicorn


    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    app = create_app(model_sources(specs, backend), settings)
    # uvicorn's own access log is off: the app writes one JSON line per request (logger tixel.access).
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                           timeout_graceful_shutdown=30))
    app.state.tixel["stop"] = lambda: setattr(server, "should_exit", True)  # when no model loads
    server.run()
    failed = app.state.tixel["failed"]
    if failed:
        raise TixelError("; ".join(f"model {name}: {why}" for name, why in failed.items()))


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
