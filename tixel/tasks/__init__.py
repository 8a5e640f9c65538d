"""Tasks: what a kind of problem adds to the shared path (reader, head, loss, metrics, decoding)."""
from tixel.core import registry


def create_task(name: str, cfg=None):
    task = registry.create("task", name)
    return task.configure(cfg) if cfg is not None else task
