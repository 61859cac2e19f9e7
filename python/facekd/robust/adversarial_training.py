"""Adversarial training of heatmap models: PGD examples mixed into each batch (Kurakin et al.,
"Adversarial Machine Learning at Scale", ICLR 2017; PGD examples as in Madry et al., ICLR 2018).

Each step, the first ``k = ceil(fraction * N)`` crops of the batch are replaced by PGD examples
made against the current model (in eval mode, so BatchNorm statistics are not touched), and the
loss is Kurakin's mix ``(sum_clean L + lambda * sum_adv L) / (N - k + lambda * k)``, logged as the
two terms ``heatmap`` and ``adversarial``.

Use: ``Trainer(cfg, out, task=AdversarialTask(AdversarialTrainingConfig(epsilon=4)))``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from facekd.engine.trainer import GroundTruthTask
from facekd.errors import FacekdError
from facekd.robust.config import AdversarialTrainingConfig

__all__ = ["AdversarialTrainingConfig", "AdversarialTask"]


def _bounds(x0: Tensor, e) -> tuple[Tensor, Tensor]:
    """Per-pixel box: the epsilon ball around x0 within [0, 1] (never excluding x0 itself)."""
    return (torch.maximum(x0 - e, torch.clamp(x0, max=0.0)),
            torch.minimum(x0 + e, torch.clamp(x0, min=1.0)))


class AdversarialTask(GroundTruthTask):
    """:class:`~facekd.engine.trainer.GroundTruthTask` with PGD examples mixed into each batch.

    After each :meth:`losses` call, ``last`` holds ``clean`` and ``adversarial`` (the replaced crops,
    normalised as fed to the model) and ``epsilon`` (per example, pixel units) for inspection."""

    def __init__(self, config: AdversarialTrainingConfig | None = None) -> None:
        super().__init__()
        self.config = config or AdversarialTrainingConfig()
        self.mean: tuple[float, ...] = (0.485, 0.456, 0.406)
        self.std: tuple[float, ...] = (0.229, 0.224, 0.225)
        self.calls = 0
        self.last: dict[str, Tensor] = {}

    def setup(self, trainer) -> None:
        super().setup(trainer)
        if self.output_type != "heatmap":
            raise FacekdError("adversarial training supports heatmap models only "
                              f"(this model outputs {self.output_type!r})")
        from facekd import kernels

        self.mean = tuple(getattr(trainer.train_set, "mean", None) or kernels.IMAGENET_MEAN)
        self.std = tuple(getattr(trainer.train_set, "std", None) or kernels.IMAGENET_STD)

    def _examples(self, inner: nn.Module, x: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        from facekd.losses.heatmap import heatmap_mse
        from facekd.robust.attacks import denormalize, normalize

        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.calls)
        n = x.shape[0]
        if cfg.random_epsilon:
            eps = torch.rand(n, generator=gen).clamp_min(1e-3) * cfg.epsilon
        else:
            eps = torch.full((n,), float(cfg.epsilon))
        e = (eps / 255.0).to(device=x.device, dtype=torch.float32).view(-1, 1, 1, 1)
        step = e * (cfg.step / cfg.epsilon)
        x0 = denormalize(x.detach().float(), self.mean, self.std)
        lo, hi = _bounds(x0, e)
        if cfg.random_start:
            u = torch.rand(x0.shape, generator=gen).to(x0.device)
            xa = torch.max(torch.min(x0 + (u * 2 - 1) * e, hi), lo)
        else:
            xa = x0.clone()
        modes = {m: m.training for m in inner.modules()}
        inner.eval()
        try:
            for _ in range(cfg.steps):
                xa = xa.detach().requires_grad_(True)
                with torch.enable_grad():
                    loss = heatmap_mse(inner(normalize(xa, self.mean, self.std).to(x.dtype)), target, weight)
                    (g,) = torch.autograd.grad(loss, xa)
                xa = torch.max(torch.min(xa.detach() + step * g.sign(), hi), lo)
        finally:
            for m, mode in modes.items():
                m.training = mode
        return normalize(xa.detach(), self.mean, self.std).to(x.dtype), eps

    def losses(self, batch: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        cfg = self.config
        x, target, weight = batch["image"], batch["heatmap"], batch["weight"]
        n = x.shape[0]
        k = min(n, max(1, math.ceil(cfg.fraction * n)))
        inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        adv, eps = self._examples(inner, x[:k], target[:k], weight[:k])
        self.calls += 1
        self.last = {"clean": x[:k].detach(), "adversarial": adv, "epsilon": eps}
        mixed = torch.cat([adv, x[k:]]) if k < n else adv
        if x.is_contiguous(memory_format=torch.channels_last):
            mixed = mixed.contiguous(memory_format=torch.channels_last)
        out = model(mixed)
        per = (out.float() - target.float()).pow(2).mean(dim=(2, 3)) * weight.float()  # [N, K]
        per = per.mean(dim=1)  # [N]
        denom = (n - k) + cfg.adv_weight * k
        return {"heatmap": per[k:].sum() / denom, "adversarial": cfg.adv_weight * per[:k].sum() / denom}

    def extra_step(self, batch: dict[str, Tensor]) -> dict[str, float] | None:
        if not self.last:
            return None
        from facekd.robust.attacks import denormalize

        d = (denormalize(self.last["adversarial"].float(), self.mean, self.std)
             - denormalize(self.last["clean"].float(), self.mean, self.std)).abs().amax()
        return {"adv_linf": float(d) * 255.0}

    def extra_state(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.calls = int(state.get("calls", 0))
