"""Ground-truth losses: weighted heatmap MSE, and the coordinate loss of regression baselines."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _check(pred: Tensor, target: Tensor, weight: Tensor | None, what: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{what}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if weight is not None and tuple(weight.shape) != tuple(pred.shape[:2]):
        raise ValueError(f"{what}: weight {tuple(weight.shape)} must be [N, K] = {tuple(pred.shape[:2])}")


def heatmap_mse(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean squared error over all heatmap pixels; ``weight`` [N, K] scales each map (0 masks an
    invisible / missing point). Computed in fp32 whatever the input dtype."""
    _check(pred, target, weight, "heatmap_mse")
    err = (pred.float() - target.float()).pow(2).mean(dim=(2, 3))  # [N, K]
    if weight is not None:
        err = err * weight.float()
    return err.mean()


def coord_l1(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Smooth-L1 (beta 0.01) between coordinates [N, K, 2], averaged; ``weight`` [N, K] as above."""
    _check(pred, target, weight, "coord_l1")
    err = F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=0.01).sum(-1)
    if weight is not None:
        err = err * weight.float()
    return err.mean()
