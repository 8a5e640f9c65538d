"""Tasks: what a kind of problem adds to the shared path (reader, head, loss, metrics, decoding)."""
from tixel import registry


def create_task(name: str):
    return registry.create("task", name)
