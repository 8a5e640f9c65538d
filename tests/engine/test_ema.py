"""`train.ema`: the kept weights are the exponential moving average of the weights after every step."""
import torch
from safetensors.torch import load_file
from tiny import stop_after

from tixel.commands.train import train
from tixel.core.config import validate
from tixel.engine.loop import Interrupted, Step

QUIET = dict(progress=False, log=lambda *_: None)


def test_best_checkpoint_holds_the_moving_average_of_every_steps_weights(tiny_raw):
    tiny_raw["train"].update(epochs=1, ema=0.8)
    seen = []

    def record(job, event):
        if isinstance(event, Step):
            seen.append({k: v.detach().clone() for k, v in job.model.state_dict().items() if v.is_floating_point()})

    run = train(validate(tiny_raw), on_event=record, **QUIET)
    average = dict(seen[0])  # the average starts at the first step's weights
    for weights in seen[1:]:
        average = {k: 0.8 * average[k] + 0.2 * weights[k] for k in average}
    kept = load_file(str(run.run_dir / "checkpoints" / "best.safetensors"))
    assert len(seen) > 5
    for name, value in average.items():  # batch-norm running statistics are averaged as well
        torch.testing.assert_close(kept[name], value, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(kept[k], v) for k, v in seen[-1].items())  # not the last step's weights


def test_an_ema_run_resumes_exactly(tiny_raw):
    tiny_raw["train"].update(epochs=2, ema=0.9)
    full = train(validate(tiny_raw), **QUIET)
    tiny_raw["output"]["name"] = "interrupted"
    cfg = validate(tiny_raw)
    try:
        train(cfg, on_event=stop_after(1, 2), **QUIET)
        raise AssertionError("the run should have been interrupted")
    except Interrupted as stop:
        resumed = train(cfg, resume=stop.args[0], **QUIET)
    a = load_file(str(full.run_dir / "checkpoints" / "best.safetensors"))
    b = load_file(str(resumed.run_dir / "checkpoints" / "best.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name])
