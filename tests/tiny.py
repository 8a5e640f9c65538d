"""The tiny, fast image experiment most tests start from (4 classes of the bundled digits)."""

TINY = {
    "task": "image_classification",
    "seed": 0,
    "data": {
        "format": "digits",
        "n_class": 4,
        "split": {"validation": 0.15, "test": 0.2, "seed": 0},
        "augment": {"translate": 0.1, "rotate": 5},
    },
    "model": {
        "encoder": {"type": "cnn", "blocks": [{"channels": 4, "padding": 1, "batch_norm": True}]},
        "head": {"hidden": [16], "dropout": 0.2},
    },
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.003, "monitor": "val_accuracy"},
}


def stop_after(epochs, steps):
    """A train hook that requests a stop (as Ctrl-C does) after `epochs` whole epochs plus `steps` batches."""
    from tixel.engine.loop import Step

    def hook(job, event):
        if isinstance(event, Step) and job.state.global_step == epochs * len(job.train) + steps:
            job.stop_requested = True
    return hook
