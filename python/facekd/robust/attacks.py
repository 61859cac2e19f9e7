"""L-infinity adversarial attacks (FGSM, PGD) on normalised face crops.

The perturbation lives in pixel space: ``x01`` is the crop in [0, 1] (``v / 255``), the model sees
``(x01 - mean) / std``. A budget ``epsilon`` (fraction of 255, e.g. ``4 / 255``) therefore bounds
the change of every pixel value, whatever the normalisation; in the normalised input it is
``epsilon / std[c]`` per channel. Every iterate is projected onto the epsilon ball and onto the
valid pixel range [0, 1].
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from facekd.errors import FacekdError

__all__ = ["linf_attack", "fgsm", "pgd", "input_gradient", "fgsm_from_gradient", "normalize", "denormalize", "heatmap_targets",
           "landmark_loss"]


def _stats(values: Sequence[float], like: Tensor) -> Tensor:
    t = torch.as_tensor(np.asarray(values, dtype=np.float32), device=like.device)
    if t.numel() != like.shape[1]:
        raise FacekdError(f"normalisation has {t.numel()} values for {like.shape[1]} channels")
    return t.to(like.dtype).view(1, -1, 1, 1)


def normalize(x01: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(x01 - mean) / std`` per channel of ``[N, C, H, W]``."""
    return (x01 - _stats(mean, x01)) / _stats(std, x01)


def denormalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Inverse of :func:`normalize`."""
    return x * _stats(std, x) + _stats(mean, x)


def linf_attack(model: nn.Module | Callable[[Tensor], Tensor], x01: Tensor,
                loss_fn: Callable[[Tensor], Tensor], epsilon: float, *, steps: int, step_size: float,
                random_start: bool, mean: Sequence[float], std: Sequence[float],
                generator: torch.Generator | None = None) -> Tensor:
    """Projected sign-gradient ascent of ``loss_fn(model(normalize(x)))`` within
    ``|x - x01|_inf <= epsilon`` and ``0 <= x <= 1``. Returns the adversarial crop in [0, 1]
    (detached). The model is used as given (put it in eval mode first)."""
    if not (np.isfinite(epsilon) and epsilon >= 0):
        raise FacekdError(f"epsilon must be finite and >= 0, got {epsilon}")
    if int(steps) != steps or steps < 1:
        raise FacekdError(f"steps must be a positive integer, got {steps}")
    if not (np.isfinite(step_size) and step_size > 0):
        raise FacekdError(f"step_size must be > 0, got {step_size}")
    x0 = x01.detach()
    if x0.ndim != 4:
        raise FacekdError(f"crops must be [N, C, H, W], got shape {tuple(x0.shape)}")
    if random_start and epsilon > 0:
        noise = torch.rand(x0.shape, generator=generator, dtype=torch.float32, device="cpu")
        x = x0 + ((noise * 2 - 1) * epsilon).to(device=x0.device, dtype=x0.dtype)
    else:
        x = x0.clone()
    # the epsilon ball within the pixel range [0, 1] (never excluding x0 itself)
    lo = torch.maximum(x0 - epsilon, torch.clamp(x0, max=0.0))
    hi = torch.minimum(x0 + epsilon, torch.clamp(x0, min=1.0))
    x = torch.max(torch.min(x, hi), lo)
    for _ in range(int(steps)):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(model(normalize(x, mean, std)))
            (grad,) = torch.autograd.grad(loss, x)
        x = x.detach() + step_size * grad.sign()
        x = torch.max(torch.min(x, hi), lo)
    return x.detach()


def fgsm(model, x01: Tensor, loss_fn, epsilon: float, *, mean, std) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ``epsilon``."""
    return linf_attack(model, x01, loss_fn, epsilon, steps=1, step_size=max(epsilon, 1e-12),
                       random_start=False, mean=mean, std=std)


def input_gradient(model, x01: Tensor, loss_fn, *, mean, std) -> Tensor:
    """Gradient of ``loss_fn(model(normalize(x01)))`` with respect to the pixel-space crop."""
    x = x01.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(model(normalize(x, mean, std))), x)
    return grad


def fgsm_from_gradient(x01: Tensor, grad: Tensor, epsilon: float) -> Tensor:
    """FGSM example for a precomputed :func:`input_gradient` (the same for every epsilon)."""
    x0 = x01.detach()
    x = x0 + epsilon * grad.sign()
    lo = torch.maximum(x0 - epsilon, torch.clamp(x0, max=0.0))
    hi = torch.minimum(x0 + epsilon, torch.clamp(x0, min=1.0))
    return torch.max(torch.min(x, hi), lo)


def pgd(model, x01: Tensor, loss_fn, epsilon: float, *, steps: int = 10, step_size: float | None = None,
        random_start: bool = True, mean, std, generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient descent (Madry et al. 2018): uniform random start in the ball, then
    ``steps`` sign steps of ``step_size`` (default ``epsilon / 4``)."""
    step = epsilon / 4 if step_size is None else step_size
    return linf_attack(model, x01, loss_fn, epsilon, steps=steps, step_size=max(step, 1e-12),
                       random_start=random_start, mean=mean, std=std, generator=generator)


def heatmap_targets(points_crop: np.ndarray, codec) -> tuple[Tensor, Tensor]:
    """Ground-truth heatmaps [N, K, h, h] and weights [N, K] for crop-coordinate points [N, K, 2]
    (NaN = unlabelled, weight 0)."""
    hms, ws = zip(*(codec.encode(p) for p in np.asarray(points_crop, dtype=np.float32)))
    return torch.from_numpy(np.stack(hms)), torch.from_numpy(np.stack(ws))


def landmark_loss(output_type: str, target: Tensor, weight: Tensor) -> Callable[[Tensor], Tensor]:
    """The attack objective: heatmap MSE against GT heatmaps (``output_type="heatmap"``) or the
    smooth-L1 coordinate loss against crop-normalised GT coordinates (``"coords"``)."""
    from facekd.losses.heatmap import coord_l1, heatmap_mse

    if output_type == "heatmap":
        return lambda out: heatmap_mse(out, target.to(out.device), weight.to(out.device))
    if output_type == "coords":
        t = torch.nan_to_num(target)
        return lambda out: coord_l1(out, t.to(out.device), weight.to(out.device))
    raise FacekdError(f"unknown output_type {output_type!r} (heatmap or coords)")
