"""Channel-wise distillation (Shu et al., ICCV 2021).

For teacher map T and (adapted) student map S, both [N, C, H, W], each channel becomes a distribution over the
H·W positions:

    p_T[n,c] = softmax(φ(T[n,c]) / τ),   p_S[n,c] = softmax(φ(S[n,c]) / τ)
    L_CWD    = τ² / (N·C) · Σ_{n,c} KL(p_T[n,c] ‖ p_S[n,c])
             = τ² / (N·C) · Σ_{n,c} Σ_i p_T,i (log p_T,i − log p_S,i)

φ is the identity for logits (the paper's setting, τ = 4) or, with ``normalize="standardize"``, a per-channel
z-score over positions. facekd's choice for heatmaps: heatmaps regressed in [0, 1] are nearly uniform after
softmax(·/4): a peak of 1 gets only e^{1/4} ≈ 1.28× the weight of an empty position, so on a 32×32 map the
peak holds ~0.1 % of the mass and the loss carries almost no signal. Standardising each channel first makes the distribution depend on the map's shape, not
its scale (a target Gaussian's peak becomes ≈ 10–20), and τ = 1 then gives peaked but not one-hot distributions.
Defaults therefore: ``standardize`` + τ = 1 on heatmaps; raw + τ = 4 on logit-like feature taps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["channel_wise_distillation"]


def _standardize(x: Tensor, eps: float = 1e-6) -> Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def channel_wise_distillation(student: Tensor, teacher: Tensor, tau: float = 4.0,
                              normalize: str = "none", weight: Tensor | None = None) -> Tensor:
    """L_CWD as defined in the module docstring. Teacher gradients are not propagated.

    ``weight`` [N, C] (optional) weights each channel's KL; the sum is then divided by the weights' sum instead of
    N·C (channels of weight 0, e.g. unlabelled points of a label target, do not count)."""
    if student.shape != teacher.shape:
        raise ValueError(f"student/teacher shapes differ: {tuple(student.shape)} vs {tuple(teacher.shape)} "
                         "(adapt the student's channels and resize first)")
    if student.dim() != 4:
        raise ValueError(f"expected [N, C, H, W] tensors, got {student.dim()} dims")
    if tau <= 0:
        raise ValueError(f"tau: must be > 0, got {tau}")
    if normalize not in ("none", "standardize"):
        raise ValueError(f"normalize: expected 'none' or 'standardize', got {normalize!r}")
    n, c = student.shape[:2]
    s = student.float().flatten(2)
    t = teacher.detach().float().flatten(2)
    if normalize == "standardize":
        s, t = _standardize(s), _standardize(t)
    log_p_s = F.log_softmax(s / tau, dim=-1)
    log_p_t = F.log_softmax(t / tau, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # [N, C]
    if weight is None:
        return kl.sum() * (tau * tau) / (n * c)
    if weight.shape != kl.shape:
        raise ValueError(f"weight: expected shape {tuple(kl.shape)}, got {tuple(weight.shape)}")
    w = weight.detach().float()
    return (w * kl).sum() * (tau * tau) / w.sum().clamp_min(1.0)
