"""Distillation settings (the ``distill:`` section of a training YAML). No torch import here."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field


@dataclass
class DistillConfig:
    """L_total = λ_KD·L_KD + λ_AKD·ramp(step)·Σ_t L_A,t + λ_CD·L_CD + λ_PL·L_PL.

    Teachers are named: ``teachers`` maps a name (``w32``, ``w18``, ``slim16`` …) to a model (facekd model dir,
    .safetensors or checkpoint); every term names the teacher(s) it uses (``kd_teachers``, ``cd_teacher``,
    ``akd_teachers``; empty = all teachers, resp. the first one for CD). A λ of 0 switches its term off (and
    skips the work it needs), which is how the ablation builds its rows.

    Defaults are the values the measurements chose (docs/results/README.md, docs/distillation.md):

    * ``lambda_cd = 0.003``: Shu et al.'s λ = 3 assumes a task loss of order 1 (cross-entropy); facekd's
      heatmap MSE is ~2e-3, so at λ = 3 the CWD term was 4.4 against L_KD 0.002 and the ground-truth term no
      longer trained anything (measured in the first ablation). λ scaled by 1e-3 starts CWD at ~2× L_KD.
    * ``lambda_akd = 0.005`` with no warm-up collapsed all three seeds (NME > 100 %) in the first ablation;
      warm-up, ramp, spectral norm and a lower ``disc_lr`` only delayed the collapse at a real schedule (the
      discriminator wins and its pull on the student grows to several times L_KD's). ``akd_grad_ratio = 0.1``
      caps that pull at 0.1× the rest of the objective's (gradients at the student's heatmaps); with it the
      term trains at the real schedule on every seed measured (docs/results/README.md, nineteenth session).

    Old configs with ``teacher1`` / ``teacher2`` still load: they become teachers named ``t1`` / ``t2`` (with a
    FutureWarning), which the old ``kd_teachers: [t1, t2]`` lists keep naming.
    """

    teachers: dict[str, str] = field(default_factory=dict)  # name -> model path (order matters for cd_teacher)
    teacher1: str | None = None  # deprecated: becomes teachers["t1"]
    teacher2: str | None = None  # deprecated: becomes teachers["t2"]
    # L_KD = (1 - alpha) * MSE(S, GT) + alpha * Σ_t w_t MSE(S, T_t)   (FPD: alpha = 0.5)
    lambda_kd: float = 1.0
    alpha: float = 0.5
    kd_teachers: list[str] = field(default_factory=list)  # teachers of L_KD (empty: all)
    teacher_weighting: str = "weighted"  # weighted (per sample & landmark, by each teacher's error) | uniform
    weighting_tau: float = 0.5
    # L_CD between one teacher and the student at the named taps (facekd.models feature_info names)
    lambda_cd: float = 0.003
    cd_teacher: str = ""  # the teacher of L_CD (empty: the first of ``teachers``)
    cd_kind: str = "cwd"  # cwd (Shu et al. 2021) | channel (Zhou et al. 2020, pooled-feature MSE)
    cd_taps: list[str] = field(default_factory=lambda: ["heatmaps"])
    cd_tau: float = 1.0  # CWD temperature on heatmap taps (standardised first, see facekd.losses.cwd)
    cd_feature_tau: float = 4.0  # CWD temperature on feature taps (raw, after the adapter)
    # what L_CD pulls the student's heatmaps towards: "teacher" (cd_teacher's maps) or "ground_truth" (the codec's
    # Gaussians of the labels, on labelled points only; no teacher): the control that separates what CWD's loss
    # shape does from what the teacher's maps add (`facekd ablate` row gt_cwd)
    cd_target: str = "teacher"
    # L_A,t: adversarial terms against a heatmap discriminator per teacher (L_A1, L_A2 for two teachers)
    lambda_akd: float = 0.005
    akd_teachers: list[str] = field(default_factory=list)  # teachers with a discriminator (empty: all)
    akd_warmup_steps: int = 200  # the student term is 0 for this many optimizer steps (D trains meanwhile)
    akd_ramp_steps: int = 500  # then λ_AKD rises linearly from 0 over this many steps
    # Gradient balance (Esser et al. 2021's adaptive weight, taken at the student's heatmaps): each L_A,t's weight is
    # min(λ_AKD·ramp, ρ·‖∂L_rest/∂S‖ / ‖∂L_A,t/∂S‖), L_rest the student's other terms (KD, PL, CD), so a
    # discriminator that wins can never pull on the student harder than ρ × the rest of the objective. 0 = off.
    akd_grad_ratio: float = 0.1
    gan_mode: str = "lsgan"  # lsgan | hinge
    shared_discriminator: bool = False
    disc_width: int = 32
    disc_layers: int = 3
    disc_condition_on_image: bool = False
    disc_spectral_norm: bool = True  # spectral norm on every discriminator conv (Miyato et al. 2018)
    disc_lr: float = 1e-4
    disc_betas: tuple[float, float] = (0.5, 0.99)
    # L_PL: hard pseudo-labels: the consensus points of the KD teachers (kd_teachers) re-encoded as ground truth on unlabelled faces
    # (needs a targets cache; the baseline that shows what the soft KD targets add)
    lambda_pl: float = 0.0
    pl_min_weight: float = 0.5  # a pseudo-label point counts (weight 1) when its reliability is >= this, else 0
    # Teacher targets cache (`facekd teach`): a folder; when set, L_KD / L_CD (heatmaps) / L_A use the cached
    # teacher points, warped with each sample's augmentation and re-encoded by the codec, instead of live teachers
    targets: str | None = None
    agreement_sigma: float = 0.03  # teachers' spread (fraction of the crop side) at which agreement is e^-1
    min_confidence: float = 0.5  # teacher heatmap peaks below this scale the point weight down linearly
    outside_weight: float = 0.1  # weight of points outside the image or the (augmented) crop
    # Memoise each live teacher's outputs per input crop (exact bytes) for the whole process: with augment: null
    # every epoch (and every run of `facekd ablate`) sees the same crops, so the teachers run once per crop.
    teacher_cache: bool = False

    def __post_init__(self) -> None:
        self.teachers = dict(self.teachers or {})
        for legacy, name in ((self.teacher1, "t1"), (self.teacher2, "t2")):
            if legacy:
                warnings.warn(f"distill.teacher{name[1]} is deprecated: write `distill.teachers: {{{name}: "
                              f"{legacy}}}` (it is read as the teacher named {name!r})", FutureWarning,
                              stacklevel=3)
                self.teachers.setdefault(name, legacy)
        self.teacher1 = self.teacher2 = None

    # -- which teacher does what -----------------------------------------------------------------
    @property
    def kd_names(self) -> list[str]:
        return list(self.kd_teachers) or list(self.teachers)

    @property
    def cd_name(self) -> str:
        return self.cd_teacher or next(iter(self.teachers), "")

    @property
    def cd_uses_teacher(self) -> bool:
        """L_CD is on and pulls towards a teacher's maps (not the labels')."""
        return self.lambda_cd > 0 and self.cd_target == "teacher"

    @property
    def akd_names(self) -> list[str]:
        return list(self.akd_teachers) or list(self.teachers)

    def akd_scale(self, step: int) -> float:
        """The multiplier of λ_AKD at optimizer step ``step``: 0 during warm-up, then a linear ramp to 1."""
        if step < self.akd_warmup_steps:
            return 0.0
        if self.akd_ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - self.akd_warmup_steps + 1) / self.akd_ramp_steps)

    def validate(self) -> list[str]:
        """Problems as 'key: message' strings (empty when valid)."""
        errs = []
        if not 0.0 <= self.alpha <= 1.0:
            errs.append(f"distill.alpha: must be in [0, 1], got {self.alpha}")
        for k in ("lambda_kd", "lambda_cd", "lambda_akd", "lambda_pl", "outside_weight", "akd_warmup_steps",
                  "akd_ramp_steps", "akd_grad_ratio"):
            if getattr(self, k) < 0:
                errs.append(f"distill.{k}: must be >= 0")
        for name, path in self.teachers.items():
            if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
                errs.append(f"distill.teachers: expected name: model-path pairs, got {name!r}: {path!r}")
        known = set(self.teachers)
        if known:  # names are checked once teachers are known (the CLI may add them later)
            for key, names in (("kd_teachers", self.kd_teachers), ("akd_teachers", self.akd_teachers),
                               ("cd_teacher", [self.cd_teacher] if self.cd_teacher else [])):
                bad = [n for n in names if n not in known]
                if bad:
                    errs.append(f"distill.{key}: {bad} not among the teachers {sorted(known)}")
        if self.teacher_weighting not in ("weighted", "uniform"):
            errs.append(f"distill.teacher_weighting: 'weighted' or 'uniform', got {self.teacher_weighting!r}")
        if self.cd_kind not in ("cwd", "channel"):
            errs.append(f"distill.cd_kind: 'cwd' or 'channel', got {self.cd_kind!r}")
        if self.cd_target not in ("teacher", "ground_truth"):
            errs.append(f"distill.cd_target: 'teacher' or 'ground_truth', got {self.cd_target!r}")
        elif self.cd_target == "ground_truth" and self.lambda_cd > 0 and any(t != "heatmaps" for t in self.cd_taps):
            errs.append("distill.cd_taps: with cd_target ground_truth only the 'heatmaps' tap has a target (labels "
                        "have no features)")
        if self.gan_mode not in ("lsgan", "hinge"):
            errs.append(f"distill.gan_mode: 'lsgan' or 'hinge', got {self.gan_mode!r}")
        for k in ("cd_tau", "cd_feature_tau", "weighting_tau", "disc_lr", "agreement_sigma"):
            if getattr(self, k) <= 0:
                errs.append(f"distill.{k}: must be > 0")
        for k in ("min_confidence", "pl_min_weight", "outside_weight"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                errs.append(f"distill.{k}: must be in [0, 1]")
        if self.targets and self.lambda_cd > 0 and any(t != "heatmaps" for t in self.cd_taps):
            errs.append("distill.cd_taps: with distill.targets only the 'heatmaps' tap can be distilled (the cache "
                        "holds teacher points, not features)")
        return errs

    def run_errors(self) -> list[str]:
        """Problems that only show once the run's teachers / cache are final (after CLI overrides)."""
        errs = self.validate()
        if self.lambda_pl > 0 and not self.targets:
            errs.append("distill.lambda_pl: pseudo-labels come from a teacher targets cache: set distill.targets "
                        "or pass --targets (made by `facekd teach`)")
        return errs

    def needed_teachers(self) -> list[str]:
        """Teacher names the active terms use, in ``teachers`` order (unknown names last)."""
        need: set[str] = set()
        if self.lambda_kd > 0 and self.alpha > 0:
            need |= set(self.kd_names)
        if self.cd_uses_teacher and self.cd_name:
            need.add(self.cd_name)
        if self.lambda_akd > 0:
            need |= set(self.akd_names)
        if self.lambda_pl > 0:  # pseudo-labels: the consensus of the KD teachers
            need |= set(self.kd_names)
        order = list(self.teachers)
        return sorted(need, key=lambda n: (order.index(n) if n in order else len(order), n))
