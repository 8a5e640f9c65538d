"""One logger for tixel, and the one place that quiets third-party libraries.

Library code logs to `logging.getLogger("tixel.<module>")` and never prints; the CLI (or a notebook,
or an app) decides where records go by attaching a handler to the "tixel" logger, so DDP ranks > 0 and
tune trials stay quiet by configuration rather than by luck."""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

ROOT = "tixel"
RUN_LOG = logging.getLogger("tixel.run")  # a run's own lines (start, epochs, results) when no `log` is given


def get_logger(name: str) -> logging.Logger:
    """The logger of a tixel module (pass `__name__`), under the "tixel" root."""
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")


def to_stderr(level: int = logging.INFO) -> None:
    """What the CLI attaches: plain messages on stderr; calling it twice adds no second handler."""
    root = logging.getLogger(ROOT)
    root.setLevel(level)
    if not any(getattr(h, "_tixel", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._tixel = True
        root.addHandler(handler)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Load or save with transformers' load reports and per-load progress bars off (tixel shows its own
    progress), restoring the user's verbosity after."""
    from transformers.utils import (
        logging as hf_logging,  # heavy: only where a transformers model loads
    )

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def quiet_optuna() -> None:
    import optuna  # heavy: only where a study runs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
