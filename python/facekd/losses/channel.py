"""Channel distillation (Zhou et al., 2020).

For teacher features T and (adapted) student features S, both [N, C, H, W], compare their channel-wise global
average pools:

    g_T[n,c] = mean_{h,w} T[n,c,h,w],   g_S[n,c] = mean_{h,w} S[n,c,h,w]
    L_CD     = mean_{n,c} (g_S[n,c] − g_T[n,c])²

The paper uses Conv1×1 + BN + ReLU connectors on the student (see ``facekd.distill.Adapter``) and a loss weight
of about 6. Spatial sizes may differ (pooling removes them); channel counts must match.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["channel_distillation"]


def channel_distillation(student: Tensor, teacher: Tensor) -> Tensor:
    """L_CD as defined in the module docstring. Teacher gradients are not propagated."""
    if student.dim() != 4 or teacher.dim() != 4:
        raise ValueError("expected [N, C, H, W] tensors")
    if student.shape[:2] != teacher.shape[:2]:
        raise ValueError(f"student/teacher (N, C) differ: {tuple(student.shape[:2])} vs {tuple(teacher.shape[:2])}")
    g_s = student.float().mean(dim=(2, 3))
    g_t = teacher.detach().float().mean(dim=(2, 3))
    return (g_s - g_t).pow(2).mean()
