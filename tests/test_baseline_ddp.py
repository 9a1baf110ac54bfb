"""Data-parallel training through torchrun, for real: two gloo ranks on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from baseline.distributed import shard
from tests.helpers import free_port
from tests.synth.learnable import LearnableConfig, write_learnable
from tests.test_baseline_benchmark import cli, error_line

ROOT = Path(__file__).resolve().parents[1]
DATA = LearnableConfig(crafts=2, places=2, train_per_entity=6, dev_per_entity=2, test_per_entity=2, candidates=4, min_side=64, max_side=96)
# Settings pinned here (not the preset defaults): a small 4-way text loss falls within 2 epochs.
ARGS = ("--models", "text-only,image-only,mcr", "--epochs", "2", "--threads", "1", "--text-negatives", "3")




def torchrun(*argv: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run`` on this checkout, rendezvous on a free loopback port."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_shards_are_disjoint_and_weights_give_the_global_mean():
    rows = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    for batch in rows.split(5):  # 5, 5, 1 rows: uneven and, for the last, one rank without rows
        losses = torch.rand(len(batch), generator=torch.Generator().manual_seed(len(batch)), dtype=torch.float64)
        parts = [shard(batch, rank, 2) for rank in range(2)]
        real = [p for p, w in parts if w > 0]
        assert torch.equal(torch.cat(real), batch)  # contiguous, disjoint, complete, in the global order
        position = {int(r): i for i, r in enumerate(batch)}
        averaged = sum(w * losses[[position[int(r)] for r in p]].mean() for p, w in parts) / 2  # what DDP's average sees
        assert averaged.item() == pytest.approx(losses.mean().item(), rel=1e-12)
    assert shard(rows[:1], 1, 2)[1] == 0.0


def test_fit_under_two_ranks_equals_one_process(tmp_path):
    """The loop with DDP reproduces single-process training on a deterministic loss (uneven batches, unused weights)."""
    from safetensors.torch import load_file

    from tests.ddp_fit_worker import train

    done = torchrun(str(ROOT / "tests" / "ddp_fit_worker.py"), str(tmp_path / "ddp"))
    assert done.returncode == 0, done.stderr[-3000:]
    model, single = train()
    ddp = json.loads((tmp_path / "ddp" / "history.json").read_text(encoding="utf-8"))
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["steps"] == single["steps"] == 3 * 3 and ddp["best_epoch"] == single["best_epoch"]
    assert ddp["unused_grad_is_none"] and single["unused_grad_is_none"]
    for a, b in zip(ddp["history"], single["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["dev_top1"] == pytest.approx(b["dev_top1"], rel=1e-5)
    weights = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    for name, value in model.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6)
    assert not torch.equal(weights["hidden.weight"], train(epochs=0)[0].hidden.weight.detach())  # it did train


def test_torchrun_benchmark_on_two_cpu_ranks(tmp_path):
    dataset = write_learnable(tmp_path / "EMMEL-synth", DATA, plots=False)
    done = torchrun("-m", "emmel", "benchmark", str(dataset), "--out", str(tmp_path / "ddp"), *ARGS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("| MCR (text-text + visual-text)") == 1  # rank 0 alone prints the table
    assert done.stderr.count("data-parallel: 2 ranks (gloo), global batch 32") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EMMEL-synth", "ddp"]  # no stray or second output
    assert (tmp_path / "ddp" / "models" / "mcr" / "emmel_model.json").is_file()
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text(encoding="utf-8"))
    assert ddp["distributed"] == {"world_size": 2, "backend": "gloo", "global_batch": 32}

    code, out, err = cli("benchmark", dataset, "--out", tmp_path / "one", *ARGS)
    assert code == 0, err
    one = json.loads((tmp_path / "one" / "results.json").read_text(encoding="utf-8"))
    assert "distributed" not in one and ddp["settings"] == one["settings"] and ddp["results"].keys() == one["results"].keys()
    for module in ("text-text", "visual-text"):
        losses = [h["loss"] for h in ddp["training"][module]["history"]]
        assert losses[-1] < losses[0], (module, losses)  # training lowered the loss
        assert ddp["training"][module]["steps"] == one["training"][module]["steps"] == 2 * 2  # global batches, as one process
    # The cross-encoder's loss is per sample, so with the same global batch the two runs agree closely
    # (they differ only in the random negatives and dropout masks the second rank draws).
    for a, b in zip(ddp["training"]["text-text"]["history"], one["training"]["text-text"]["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=0.1)
    for row in ddp["results"].values():
        assert 0 <= row["test"]["top1"] <= row["test"]["top5"] <= 100


@pytest.mark.parametrize("env, device, message", [
    ({"RANK": "0"}, "cpu", "missing WORLD_SIZE, LOCAL_RANK"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "cpu", "needs MASTER_ADDR, MASTER_PORT"),
    ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "cpu", "inconsistent torchrun environment"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "cuda:0", "use --device cuda"),
])
def test_half_set_torchrun_environment_is_one_line(tmp_path, monkeypatch, env, device, message):
    dataset = write_learnable(tmp_path / "d", DATA, plots=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = error_line(*cli("benchmark", dataset, "--device", device))
    assert message in line, line
    assert not dataset.with_name("d-benchmark").exists()


def test_missing_backend_is_one_line(tmp_path, monkeypatch):
    """This CPU torch build has no nccl: --device cuda under torchrun says so before any rendezvous."""
    import torch.distributed as dist

    if dist.is_nccl_available():
        monkeypatch.setattr(dist, "is_nccl_available", lambda: False)  # a CUDA build: exercise the same check
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    line = error_line(*cli("benchmark", write_learnable(tmp_path / "d", DATA, plots=False), "--device", "cuda"))
    assert "the nccl backend for --device cuda is not available" in line, line
