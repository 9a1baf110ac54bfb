"""Score fusion y = α·S(x_l, x_v) + (1 − α)·S(x_l, x_d) over one query's candidates (pure functions).

The two scores live on different scales (a cosine in [-1, 1] vs an unbounded cross-encoder
logit), so each is normalised over the candidate list before mixing. The default, ``softmax``,
turns each module's scores into its distribution over the candidates, P_v = softmax(S_v/τ) and
P_t = softmax(S_t): exactly the distributions both training losses (InfoNCE with temperature τ,
listwise cross-entropy) fit, so they are calibrated the same way and sum to one; a module that is
sure of its answer then weighs more than one that is not. ``zscore`` (mean 0, std 1 per list),
``minmax`` (to [0, 1]) and ``none`` are offered for comparison. Padding entries are ``-inf``.
"""

from __future__ import annotations

import torch

from baseline.config import NORMALIZATIONS, check_alpha

ALPHA_GRID = tuple(round(0.05 * i, 2) for i in range(21))


def normalize(scores: torch.Tensor, method: str, scale: float = 1.0) -> torch.Tensor:
    """Normalise each row over its valid (finite) entries; padding stays ``-inf``."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {method!r}")
    scores = scores.float()
    valid = torch.isfinite(scores)
    if method == "softmax":
        return torch.where(valid, torch.softmax(scores * scale, dim=-1), torch.full_like(scores, float("-inf")))
    if method == "none":
        return scores
    filled = torch.where(valid, scores, torch.zeros_like(scores))
    count = valid.sum(-1, keepdim=True).clamp(min=1)
    if method == "zscore":
        mean = filled.sum(-1, keepdim=True) / count
        var = (torch.where(valid, scores - mean, torch.zeros_like(scores)) ** 2).sum(-1, keepdim=True) / count
        out = (scores - mean) / var.sqrt().clamp(min=1e-6)
    else:  # minmax
        low = torch.where(valid, scores, torch.full_like(scores, float("inf"))).min(-1, keepdim=True).values
        high = torch.where(valid, scores, torch.full_like(scores, float("-inf"))).max(-1, keepdim=True).values
        out = (scores - low) / (high - low).clamp(min=1e-6)
    return torch.where(valid, out, torch.full_like(scores, float("-inf")))


def fuse(visual: torch.Tensor, text: torch.Tensor, alpha: float, method: str = "softmax", visual_scale: float = 1.0) -> torch.Tensor:
    """y = α·N(S_v) + (1 − α)·N(S_t), with N the chosen normalisation; padding stays ``-inf``."""
    alpha = check_alpha(alpha)
    nv, nt = normalize(visual, method, visual_scale), normalize(text, method)
    valid = torch.isfinite(nv) & torch.isfinite(nt)
    mixed = alpha * torch.where(valid, nv, torch.zeros_like(nv)) + (1 - alpha) * torch.where(valid, nt, torch.zeros_like(nt))
    return torch.where(valid, mixed, torch.full_like(mixed, float("-inf")))


def sweep(visual: torch.Tensor, text: torch.Tensor, gold_pos: torch.Tensor, method: str, visual_scale: float, grid=ALPHA_GRID) -> list[dict]:
    """Top-1 and MRR for every α of the grid."""
    from baseline.metrics import gold_ranks

    rows = []
    for alpha in grid:
        ranks = gold_ranks(fuse(visual, text, alpha, method, visual_scale), gold_pos)
        rows.append({"alpha": alpha, "top1": round(100.0 * float((ranks == 1).float().mean()), 2),
                     "mrr": round(100.0 * float((1.0 / ranks.float()).mean()), 2)})
    return rows


def choose_alpha(rows: list[dict]) -> float:
    """Best dev Top-1, then best MRR, then the α closest to 0.5 (the paper's value)."""
    return max(rows, key=lambda r: (r["top1"], r["mrr"], -abs(r["alpha"] - 0.5)))["alpha"]
