"""Distillation settings (the ``distill:`` section of a training YAML). No torch import here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DistillConfig:
    """L_total = λ_KD·L_KD + λ_AKD·(L_A1 + L_A2) + λ_CD·L_CD, defaults from the literature.

    A λ of 0 switches its term off (and skips the work it needs), which is how the ablation builds its rows.
    """

    teacher1: str | None = None  # T1 (HRNet-W32): facekd model dir / .safetensors / checkpoint
    teacher2: str | None = None  # T2 (HRNetV2-W18)
    # L_KD = (1 - alpha) * MSE(S, GT) + alpha * Σ_t w_t MSE(S, T_t)   (FPD: alpha = 0.5)
    lambda_kd: float = 1.0
    alpha: float = 0.5
    kd_teachers: list[str] = field(default_factory=lambda: ["t1", "t2"])  # subset of t1, t2 used in L_KD
    teacher_weighting: str = "weighted"  # weighted (per sample & landmark, by the teacher's GT error) | uniform
    weighting_tau: float = 0.5
    # L_CD between T1 and the student at the named taps (facekd.models feature_info names)
    lambda_cd: float = 3.0
    cd_kind: str = "cwd"  # cwd (Shu et al. 2021) | channel (Zhou et al. 2020, pooled-feature MSE)
    cd_taps: list[str] = field(default_factory=lambda: ["heatmaps"])
    cd_tau: float = 1.0  # CWD temperature on heatmap taps (standardised first, see facekd.losses.cwd)
    cd_feature_tau: float = 4.0  # CWD temperature on feature taps (raw, after the adapter)
    # L_A1, L_A2: adversarial terms against a heatmap discriminator per teacher
    lambda_akd: float = 0.005
    gan_mode: str = "lsgan"  # lsgan | hinge
    shared_discriminator: bool = False
    disc_width: int = 32
    disc_layers: int = 3
    disc_condition_on_image: bool = False
    disc_lr: float = 4e-4
    disc_betas: tuple[float, float] = (0.9, 0.99)
    # Memoise each teacher's outputs per input crop (exact bytes) for the whole process: with augment: null
    # every epoch (and every run of `facekd ablate`) sees the same crops, so the teachers run once per crop.
    teacher_cache: bool = False

    def validate(self) -> list[str]:
        """Problems as 'key: message' strings (empty when valid)."""
        errs = []
        if not 0.0 <= self.alpha <= 1.0:
            errs.append(f"distill.alpha: must be in [0, 1], got {self.alpha}")
        for k in ("lambda_kd", "lambda_cd", "lambda_akd"):
            if getattr(self, k) < 0:
                errs.append(f"distill.{k}: must be >= 0")
        if any(t not in ("t1", "t2") for t in self.kd_teachers):
            errs.append(f"distill.kd_teachers: entries must be 't1' or 't2', got {self.kd_teachers}")
        if self.teacher_weighting not in ("weighted", "uniform"):
            errs.append(f"distill.teacher_weighting: 'weighted' or 'uniform', got {self.teacher_weighting!r}")
        if self.cd_kind not in ("cwd", "channel"):
            errs.append(f"distill.cd_kind: 'cwd' or 'channel', got {self.cd_kind!r}")
        if self.gan_mode not in ("lsgan", "hinge"):
            errs.append(f"distill.gan_mode: 'lsgan' or 'hinge', got {self.gan_mode!r}")
        for k in ("cd_tau", "cd_feature_tau", "weighting_tau", "disc_lr"):
            if getattr(self, k) <= 0:
                errs.append(f"distill.{k}: must be > 0")
        return errs

    def needed_teachers(self) -> set[str]:
        need = set(self.kd_teachers) if self.lambda_kd > 0 and self.alpha > 0 else set()
        if self.lambda_cd > 0:
            need.add("t1")
        if self.lambda_akd > 0:
            need |= {"t1", "t2"}
        return need
