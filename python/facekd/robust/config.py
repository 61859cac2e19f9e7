"""Adversarial-training configuration: data only, no torch (``facekd.config`` reads it without
importing the training code; the task itself is ``facekd.robust.adversarial_training``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from facekd.errors import FacekdError

__all__ = ["AdversarialTrainingConfig"]


@dataclass(frozen=True)
class AdversarialTrainingConfig:
    """``epsilon`` and ``step_size`` are in pixel units (of 255). With ``random_epsilon`` each
    example draws its budget uniformly from (0, epsilon] (Kurakin et al. draw it per example too)."""

    epsilon: float = 4.0
    steps: int = 3
    step_size: float | None = None   # default 2.5 * epsilon / steps
    fraction: float = 0.5            # share of each batch replaced by adversarial examples
    adv_weight: float = 0.3          # lambda of the mixed loss
    random_start: bool = True
    random_epsilon: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and 0 < self.epsilon <= 255):
            raise FacekdError(f"adversarial: epsilon must be in (0, 255] pixel units, got {self.epsilon}")
        if int(self.steps) != self.steps or self.steps < 1:
            raise FacekdError(f"adversarial: steps must be a positive integer, got {self.steps}")
        if self.step_size is not None and not (math.isfinite(self.step_size) and self.step_size > 0):
            raise FacekdError(f"adversarial: step_size must be > 0, got {self.step_size}")
        if not 0 < self.fraction <= 1:
            raise FacekdError(f"adversarial: fraction must be in (0, 1], got {self.fraction}")
        if not (math.isfinite(self.adv_weight) and self.adv_weight > 0):
            raise FacekdError(f"adversarial: adv_weight must be > 0, got {self.adv_weight}")

    @property
    def step(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.epsilon / self.steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AdversarialTrainingConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FacekdError(f"adversarial: unknown key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**dict(d))
