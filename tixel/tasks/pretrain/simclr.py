"""Contrastive self-supervised pretraining of an image encoder (`task: simclr`; Chen et al. 2020).

Each batch of N unlabelled images becomes 2N augmented views (tixel/pretrain/views.py); the encoder and
a small projection MLP map them to vectors, and the NT-Xent loss pulls the two views of one image
together against the other 2N - 2 views. Labels are never read. The result is `RUN/encoder/`
(encoder.json, encoder.safetensors, preprocessing.json), which `model.encoder.from: RUN/encoder`
fine-tunes; the projection head is dropped, as in the paper.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from tixel.core.collectives import all_gather_rows
from tixel.core.config import Section
from tixel.core.device import to_device
from tixel.core.registry import register, register_task
from tixel.tasks.pretrain.base import ImagePretraining
from tixel.tasks.pretrain.views import ViewConfig, two_views
from tixel.tasks.protocol import Split, StepOutput


class SimCLRConfig(Section):
    temperature: float = Field(0.2, gt=0, description="NT-Xent temperature tau")
    projection_dim: int = Field(128, ge=1)
    projection_hidden: int = Field(512, ge=1)
    views: ViewConfig = ViewConfig()


register("section", "simclr", SimCLRConfig)(SimCLRConfig)


def nt_xent(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, top-1 hits): rows i and i + N of `z` are the two views of image i."""
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0] // 2
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # a view is not its own positive
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positive), (sim.argmax(1) == positive).sum()


def gather_views(z: torch.Tensor) -> torch.Tensor:
    """Under torchrun, every process's views join the batch, laid out as nt_xent expects (all first views,
    then all second views), so each view meets the 2N - 2 negatives of the global batch as on one process
    (the paper gathers across devices too). Computing the whole loss on every process is what the train
    loop's weighting expects: the gradient reaching each process's own views is then the one-process one."""
    parts = all_gather_rows(z)
    if len(parts) == 1:
        return z
    halves = [p.chunk(2) for p in parts]
    return torch.cat([h[0] for h in halves] + [h[1] for h in halves])


class SimCLRModel(nn.Module):
    def __init__(self, encoder: nn.Module, cfg: SimCLRConfig):
        super().__init__()
        self.encoder, self.temperature = encoder, cfg.temperature
        self.projector = nn.Sequential(nn.Linear(encoder.output_dim, cfg.projection_hidden), nn.ReLU(),
                                       nn.Linear(cfg.projection_hidden, cfg.projection_dim))

    def forward(self, views: torch.Tensor, contrast: Optional[bool] = None):
        """Projections of the views; with `contrast`, also NT-Xent over the global batch (every process's
        views gathered). Rows i and i + N are the two views of image i, as `two_views` lays them out."""
        z = self.projector(self.encoder(views))
        return z if not contrast else (z, nt_xent(gather_views(z), self.temperature)[0])


@register_task("simclr")
class SimCLRTask(ImagePretraining):
    name = "simclr"
    metric_names = ("loss", "accuracy")  # accuracy: how often a view's nearest other view is its pair
    section, options_class = "simclr", SimCLRConfig

    def wrap(self, encoder, pre) -> SimCLRModel:
        return SimCLRModel(encoder, self.options)

    def transform(self, batch: tuple) -> tuple:
        """Two random views of each image; the pairing is the target (the model's `contrast`)."""
        return two_views(batch[0], self.options.views), True

    def training_step(self, model, batch: tuple) -> StepOutput:
        views, _ = batch
        _, loss = model(views, contrast=True)
        return StepOutput(loss, len(views) // 2)  # images, not views

    def validate(self, model, split: Split, batch_size: int, device) -> dict:
        """NT-Xent and pair accuracy on fixed views of the split (the same every epoch), in batches of 256."""
        loss_sum, hits, views = 0.0, 0, 0
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # the training RNG stream is left as it was
            torch.manual_seed(0)
            for x, _ in self.batches(split, 256, shuffle=False).epoch():
                loss, right = nt_xent(model(to_device(two_views(x, self.options.views), device)),
                                      self.options.temperature)
                loss_sum, hits, views = loss_sum + float(loss) * 2 * len(x), hits + int(right), views + 2 * len(x)
        return {"loss": loss_sum / max(1, views), "accuracy": hits / max(1, views)}

    def summary(self, m: dict, split: str) -> str:
        return f"SimCLR on the {split} split: NT-Xent {m['loss']:.4f}, pair accuracy {m['accuracy']:.4f}"
