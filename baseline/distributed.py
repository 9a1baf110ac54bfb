"""Data-parallel training under torchrun: a small context that the one training loop consults.

``DistContext()`` (world size 1) is the single-process default and changes nothing. Under
``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) :meth:`DistContext.from_env` starts the
process group (nccl on CUDA, gloo on CPU) and the loop then:

- cuts every global batch of the seeded order (the single-process order) into contiguous
  per-rank shards (:func:`shard`), weighting each rank's loss so that DDP's gradient *average*
  equals the gradient of the global batch mean, even when shards are unequal or one is empty;
- wraps the loss in :class:`torch.nn.parallel.DistributedDataParallel` (gradients all-reduced);
- evaluates dev on rank 0 only and broadcasts the score, so every rank keeps the same epoch;
- averages the epoch's loss over ranks (one collective per epoch, like the one device read).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import torch

from emmel.errors import EmmelError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets for every worker
RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT")  # needed by the env:// rendezvous
# Ranks > 0 wait in a collective while rank 0 scores dev/test (a whole-KB cross-encoder pass can take
# far longer than nccl's default 10 minutes).
TIMEOUT = timedelta(hours=2)
SEED_STRIDE = 1_000_003  # rank r > 0 draws negatives and dropout from seed + r·stride; rank 0 as single-process


def requested(environ=os.environ) -> bool:
    """Whether this process was started by torchrun (any of its variables set)."""
    return any(name in environ for name in ENV)


def shard(rows: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, float]:
    """This rank's contiguous part of a global batch and the weight of its mean loss.

    With weight ``len(part)·world/len(rows)`` the average over ranks of ``weight·mean(part)`` is the
    mean over the whole batch. A rank left without rows (batch smaller than the world) reuses the
    first row with weight 0, so it still takes part in the gradient all-reduce.
    """
    part = rows.tensor_split(world)[rank]
    if len(part) == 0:
        return rows[:1], 0.0
    return part, len(part) * world / len(rows)


class _ShardedLoss(torch.nn.Module):
    """``loss_fn`` on this rank's shard as a module, so DDP sees every parameter the loss uses."""

    def __init__(self, module: torch.nn.Module, loss_fn: Callable, rank: int, world: int):
        super().__init__()
        self.module, self.loss_fn, self.rank, self.world = module, loss_fn, rank, world

    def forward(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        part, weight = shard(rows, self.rank, self.world)
        return self.loss_fn(part, generator) * weight


@dataclass
class DistContext:
    """Rank and world of this process; world size 1 means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "cpu", environ=os.environ) -> DistContext:
        """Read torchrun's variables and start the process group; a single process if none are set."""
        if not requested(environ):
            return cls()
        missing = [name for name in ENV if name not in environ]
        if missing:
            raise EmmelError(f"distributed training needs {', '.join(ENV)} (set by torchrun); missing {', '.join(missing)}")
        try:
            rank, world, local = (int(environ[name]) for name in ENV)
        except ValueError:
            raise EmmelError("RANK, WORLD_SIZE and LOCAL_RANK must be integers, got " + ", ".join(f"{n}={environ[n]!r}" for n in ENV)) from None
        if not 0 <= rank < world or local < 0:
            raise EmmelError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
        if world == 1:
            return cls()
        missing = [name for name in RENDEZVOUS if name not in environ]
        if missing:
            raise EmmelError(f"distributed training needs {', '.join(missing)} "
                             "(set by torchrun; start with `torchrun --nproc_per_node=N -m emmel benchmark ...`)")
        cuda = device.startswith("cuda")
        if device.startswith("cuda:"):
            raise EmmelError(f"under torchrun use --device cuda (rank r takes cuda:LOCAL_RANK), not --device {device}")
        backend = "nccl" if cuda else "gloo"
        import torch.distributed as dist

        if not dist.is_available() or not getattr(dist, f"is_{backend}_available")():
            raise EmmelError(f"the {backend} backend for --device {'cuda' if cuda else 'cpu'} is not available in this torch build ({torch.__version__})")
        if cuda:
            if not torch.cuda.is_available():
                raise EmmelError(f"--device cuda was asked for but torch sees no CUDA GPU (this torch build: {torch.__version__})")
            if local >= torch.cuda.device_count():
                raise EmmelError(f"LOCAL_RANK {local} but this node has {torch.cuda.device_count()} CUDA GPU(s): use --nproc_per_node <= the GPU count")
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            kwargs = {"device_id": torch.device("cuda", local)} if cuda else {}
            dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=TIMEOUT, **kwargs)
        return cls(rank, world, local, backend)

    def device(self, device: str) -> str:
        """The device string of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        return f"cuda:{self.local_rank}" if self.active and device == "cuda" else device

    def seed(self, seed: int) -> int:
        """Per-rank seed for negatives and dropout (rank 0 keeps the single-process stream)."""
        return seed + SEED_STRIDE * self.rank

    def wrap(self, module: torch.nn.Module, loss_fn: Callable) -> Callable:
        """``loss_fn(rows, generator)`` itself, or a DDP module that runs it on this rank's shard."""
        if not self.active:
            return loss_fn
        from torch.nn.parallel import DistributedDataParallel

        # device_ids=None: the module is already on this rank's device and the (CPU) row indices must
        # stay where they are; unused parameters (e.g. BERT's pooler) keep grad None as single-process.
        return DistributedDataParallel(_ShardedLoss(module, loss_fn, self.rank, self.world_size), device_ids=None,
                                       static_graph=True)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Average of a scalar tensor over ranks (sum of the weighted per-rank losses / world)."""
        if not self.active:
            return value
        import torch.distributed as dist

        value = value.clone()
        dist.all_reduce(value)
        return value / self.world_size

    def on_main(self, fn: Callable[[], float]) -> float:
        """``fn()`` evaluated on rank 0 and broadcast, so every rank takes the same decision."""
        if not self.active:
            return fn()
        import torch.distributed as dist

        value = torch.tensor([fn() if self.is_main else 0.0], dtype=torch.float64,
                             device=f"cuda:{self.local_rank}" if self.backend == "nccl" else "cpu")
        dist.broadcast(value, 0)
        return float(value.item())

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def close(self, wait: bool = True) -> None:
        """Wait for every rank (unless failing), then leave the process group."""
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                if wait:
                    dist.barrier()
                dist.destroy_process_group()
