"""Where and how tensors run: device, bf16 autocast on CUDA, pinned non-blocking copies, seeding."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from baseline.config import DEFAULT_DEVICE
from baseline.distributed import DistContext
from emmel.errors import EmmelError


@dataclass
class Runtime:
    device: torch.device
    bf16: bool = True
    progress: bool = True
    dist: DistContext = field(default_factory=DistContext)  # single process unless started by torchrun

    @classmethod
    def create(cls, device: str = DEFAULT_DEVICE, bf16: bool = True, progress: bool = True, dist: DistContext | None = None) -> Runtime:
        dist = dist or DistContext()
        device = dist.device(device)
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise EmmelError(f"--device must be cpu or cuda, got {device!r}")
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise EmmelError(f"--device cuda was asked for but torch sees no CUDA GPU (this torch build: {torch.__version__})")
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.set_float32_matmul_precision("high")
        return cls(torch.device(device), bf16, progress and dist.is_main, dist)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """bf16 autocast on CUDA; plain fp32 on CPU (deterministic, and CPU bf16 is slow)."""
        if self.cuda and self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def put(self, tensor: torch.Tensor) -> torch.Tensor:
        """Host tensor → device without a stream sync (pinned, non-blocking) on CUDA."""
        if not self.cuda:
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU kernels are deterministic for a fixed thread count)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' per-load chatter and progress bars (unused MLM heads, shard writing)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()
