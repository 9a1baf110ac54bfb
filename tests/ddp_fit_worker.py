"""`baseline.train.fit` on a deterministic regression, for the DDP equivalence test.

Run alone it trains in one process; under ``torchrun --nproc_per_node 2`` each rank trains its
shard of every global batch. Rank 0 (or the single process) writes the final weights and the
history to OUT, so the test can compare the two runs. The sizes make the batches uneven (11 rows,
batch 5: the last global batch has one row, so rank 1 gets none) and one parameter is never used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from baseline.config import TrainConfig
from baseline.distributed import DistContext, requested
from baseline.runtime import Runtime
from baseline.train import fit


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 1)
        self.unused = torch.nn.Linear(8, 8)  # never in the loss: its grad must stay None, as single-process

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x))).squeeze(1)


def train(n: int = 11, batch_size: int = 5, epochs: int = 3, seed: int = 3) -> tuple[Regressor, dict]:
    """The same seeded data and model on every rank; dev score = −MSE on a held-out set."""
    torch.manual_seed(0)
    x, dev_x = torch.randn(n, 4), torch.randn(6, 4)

    def target(inputs):
        return inputs @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.3

    y, dev_y = target(x), target(dev_x)
    model = Regressor()
    dist = DistContext.from_env("cpu") if requested() else DistContext()
    rt = Runtime.create("cpu", progress=False, dist=dist)

    def loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(x[rows]), y[rows])

    def evaluate() -> float:
        with torch.no_grad():
            return -float(torch.nn.functional.mse_loss(model(dev_x), dev_y))

    cfg = TrainConfig(epochs=epochs, lr=0.05, batch_size=batch_size, warmup=0.2, weight_decay=0.01)
    result = fit(model, loss, n, evaluate, cfg, rt, seed=seed, desc="regression")
    history = {"history": result.history, "steps": result.steps, "best_epoch": result.best_epoch,
               "unused_grad_is_none": model.unused.weight.grad is None, "world_size": dist.world_size}
    dist.close()
    return model, history


def main(out: str) -> None:
    from safetensors.torch import save_file

    model, history = train()
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        Path(out).mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(out) / "model.safetensors"))
        (Path(out) / "history.json").write_text(json.dumps(history), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
