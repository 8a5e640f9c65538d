"""Bundles moved away from their run folder, for round-trip tests."""
import shutil
import tempfile
from pathlib import Path


def moved(bundle_dir) -> Path:
    """A copy of a bundle in a folder of its own: a round trip must not lean on the run folder. (The
    original stays, since fixtures share it; the task sweep also deletes the original.)"""
    target = Path(tempfile.mkdtemp(prefix="tixel-moved-")) / "bundle"
    shutil.copytree(bundle_dir, target)
    return target
