"""Tiny trained bundles and a real uvicorn server on a free loopback port, for the serve tests."""
import contextlib
import copy
import threading
import time

import httpx
import uvicorn
from ner_data import ner_config
from text_data import text_config
from tiny import TINY

from tixel.commands.train import train
from tixel.core.config import validate

QUIET = dict(progress=False, log=lambda *_: None)
RNN = {"type": "rnn", "bidirectional": True, "embedding_dim": 32, "hidden_size": 32}
TAGGER = {"type": "rnn", "embedding_dim": 32, "hidden_size": 32, "bidirectional": True,
          "char_features": {"dim": 8, "filters": 16}, "casing": True}


def tiny_bundles(tmp) -> dict:
    """image (digits CNN), text (BiLSTM) and ner (BiLSTM-CRF) run folders."""
    raw = copy.deepcopy(TINY)
    raw["output"] = {"dir": str(tmp / "runs"), "name": "digits"}
    runs = {"digits": train(validate(raw), **QUIET).run_dir}
    for name, make, encoder in (("sentiment", text_config, RNN), ("ner", ner_config, TAGGER)):
        (tmp / name).mkdir()
        cfg = make(tmp / name, encoder, epochs=4)
        cfg["output"] = {"dir": str(tmp / "runs"), "name": name}
        runs[name] = train(validate(cfg), **QUIET).run_dir
    return runs


@contextlib.contextmanager
def running(app, port: int, ready: bool = True):
    """The app under uvicorn in a thread; yields a base URL once /ready answers 200 (or, with ready=False,
    once the server answers /health)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=10))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_ready(url) if ready else wait_ready(url, path="/health")
    try:
        yield url, server
    finally:
        server.should_exit = True
        thread.join(20)


def wait_ready(url: str, timeout: float = 60, headers=None, path: str = "/ready") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}{path}", timeout=2, headers=headers).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s")
