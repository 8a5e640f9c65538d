"""NT-Xent under torch.distributed: the negatives are the whole global batch, as on one process."""
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tixel.engine.distributed import World, close
from tixel.tasks.pretrain.simclr import gather_views, nt_xent

IMAGES, DIM, WORLD = 5, 8, 2


def views_of(indices: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """A process's batch: first views of its images, then their second views (two_views' layout)."""
    return torch.cat([z[indices], z[indices + IMAGES]])


def worker(rank: int, init: str, z: torch.Tensor, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    mine = torch.arange(IMAGES)[rank::WORLD]  # 3 images and 2: uneven shards
    local = views_of(mine, z).clone().requires_grad_(True)
    loss = nt_xent(gather_views(local), 0.5)[0]
    (loss * (len(mine) * WORLD / IMAGES)).backward()  # the train loop's weighting by share
    torch.save({"loss": loss.detach(), "grad": local.grad / WORLD}, f"{out}.{rank}")  # / WORLD: DDP's mean
    close(World(rank, WORLD))  # the train loop's teardown: barrier, then destroy


def test_gathered_loss_and_gradients_equal_one_process(tmp_path):
    z = torch.randn(2 * IMAGES, DIM, generator=torch.Generator().manual_seed(0))
    mp.spawn(worker, args=(f"file://{tmp_path}/init", z, str(tmp_path / "out")), nprocs=WORLD)
    whole = z.clone().requires_grad_(True)
    expected = nt_xent(whole, 0.5)[0]
    expected.backward()
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"out.{rank}", weights_only=True)
        torch.testing.assert_close(got["loss"], expected.detach())
        torch.testing.assert_close(got["grad"], views_of(torch.arange(IMAGES)[rank::WORLD], whole.grad))


def test_one_process_leaves_the_views_alone():
    z = torch.randn(6, DIM)
    assert gather_views(z) is z
