"""Heatmap knowledge distillation from one or several teachers.

For student heatmaps S, ground-truth heatmaps G (from the codec, per-point weights v) and teacher heatmaps T_t
(t = 1..M), all [N, K, H, W]:

    mse(A, B)[n, k]   = mean_{h,w} (A[n,k,h,w] - B[n,k,h,w])^2
    L_GT              = mean_{n,k} v[n,k] · mse(S, G)[n,k]
    L_T               = mean_{n,k} Σ_t w[t,n,k] · mse(S, T_t)[n,k]
    L_KD              = (1 − α) · L_GT + α · L_T                         (FPD: α = 0.5)

Teacher weights w (Σ_t w[t,n,k] = 1):
  * ``"uniform"``: w = 1/M (plain multi-teacher averaging, the baseline);
  * ``"weighted"``: per sample and landmark, each teacher is weighted by how close ITS prediction is to the
    ground truth for that point (You et al. 2017's quality-weighted multi-teacher idea):
        e[t,n,k] = mse(T_t, G)[n,k],   w[t,n,k] = softmax_t(−e[t,n,k] / (τ_w · mean_t e[t,n,k] + ε))
    i.e. a softmax over the teachers' errors made scale-free by the mean error of that point; τ_w → 0 picks the
    best teacher per point, τ_w → ∞ is uniform. Points with v = 0 (missing) carry no teacher term either.

From a teacher targets cache (:func:`cached_kd_loss`, see :mod:`facekd.distill.targets`) the weights come with
the targets: w[t,n,k] = share · reliability, computed from the teachers' agreement, confidence and whether the
point lies in the image and the augmented crop — so faces without ground truth (v = 0) still get teacher terms:

    L_T = mean_{n,k} Σ_t w̃[t,n,k] · mse(S, T_t)[n,k],   w̃ = w[t] · r / Σ_{t' used} w[t']   (r = Σ_all t w[t])

(w̃ renormalises the shares over the teachers L_KD uses when the cache holds more.)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

__all__ = ["per_point_mse", "teacher_weights", "heatmap_kd_loss", "cached_kd_loss"]


def per_point_mse(a: Tensor, b: Tensor) -> Tensor:
    """mean over (H, W) of the squared difference: [N, K, H, W] × 2 → [N, K]."""
    if a.shape != b.shape:
        raise ValueError(f"heatmap shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a.float() - b.float()).pow(2).mean(dim=(-2, -1))


def teacher_weights(teachers: Sequence[Tensor], target: Tensor, mode: str = "weighted",
                    tau: float = 0.5, eps: float = 1e-12) -> Tensor:
    """Per-teacher, per-sample, per-landmark weights [M, N, K] summing to 1 over teachers."""
    if not teachers:
        raise ValueError("teachers: need at least one teacher heatmap tensor")
    m = len(teachers)
    n, k = target.shape[:2]
    if mode == "uniform":
        return torch.full((m, n, k), 1.0 / m, device=target.device)
    if mode != "weighted":
        raise ValueError(f"mode: expected 'uniform' or 'weighted', got {mode!r}")
    if tau <= 0:
        raise ValueError(f"tau: must be > 0, got {tau}")
    err = torch.stack([per_point_mse(t.detach(), target) for t in teachers])  # [M, N, K]
    scale = tau * err.mean(dim=0, keepdim=True) + eps
    return torch.softmax(-err / scale, dim=0)


def heatmap_kd_loss(student: Tensor, target: Tensor, teachers: Sequence[Tensor] = (),
                    target_weight: Tensor | None = None, alpha: float = 0.5,
                    mode: str = "weighted", tau: float = 0.5) -> dict[str, Tensor]:
    """Returns ``{"gt": L_GT, "teacher": L_T, "kd": L_KD}`` (see the module docstring).

    With no teachers, ``teacher`` is 0 and ``kd`` = L_GT (α is ignored), which is plain GT training.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: must be in [0, 1], got {alpha}")
    v = torch.ones(student.shape[:2], device=student.device) if target_weight is None else target_weight.float()
    if v.shape != student.shape[:2]:
        raise ValueError(f"target_weight: expected shape {tuple(student.shape[:2])}, got {tuple(v.shape)}")
    l_gt = (v * per_point_mse(student, target)).mean()
    if not teachers:
        zero = student.new_zeros(())
        return {"gt": l_gt, "teacher": zero, "kd": l_gt}
    w = teacher_weights(teachers, target, mode=mode, tau=tau) * (v > 0)  # [M, N, K]
    l_t = sum((w[i] * per_point_mse(student, t.detach())).mean() for i, t in enumerate(teachers))
    return {"gt": l_gt, "teacher": l_t, "kd": (1.0 - alpha) * l_gt + alpha * l_t}


def cached_kd_loss(student: Tensor, target: Tensor, target_weight: Tensor, teachers: Sequence[Tensor],
                   teacher_weights: Sequence[Tensor], reliability: Tensor, alpha: float = 0.5) -> dict[str, Tensor]:
    """L_KD with cached teacher targets (see the module docstring): ``teachers`` [N, K, H, W] each with its
    weights [N, K]; ``reliability`` [N, K] is the sum of the weights of every cached teacher."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: must be in [0, 1], got {alpha}")
    if len(teachers) != len(teacher_weights) or not teachers:
        raise ValueError("cached_kd_loss: one weight tensor per teacher, at least one teacher")
    v = target_weight.float()
    l_gt = (v * per_point_mse(student, target)).mean()
    ws = torch.stack([w.float() for w in teacher_weights])  # [M, N, K]
    ws = ws * (reliability.float() / ws.sum(0).clamp_min(1e-12))[None]
    l_t = sum((ws[i] * per_point_mse(student, t.detach())).mean() for i, t in enumerate(teachers))
    return {"gt": l_gt, "teacher": l_t, "kd": (1.0 - alpha) * l_gt + alpha * l_t}
