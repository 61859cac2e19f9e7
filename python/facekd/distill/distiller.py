"""The :class:`Distiller` task (see the package docstring and ``facekd.losses`` for the formulas)."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from facekd.distill.config import DistillConfig
from facekd.engine.trainer import Task
from facekd.errors import FacekdError
from facekd.losses.adversarial import HeatmapDiscriminator, discriminator_loss, generator_loss
from facekd.losses.channel import channel_distillation
from facekd.losses.cwd import channel_wise_distillation
from facekd.losses.kd import heatmap_kd_loss


# (teacher tag, crop digest) -> that crop's teacher outputs; shared by the runs of one process (facekd ablate)
_TEACHER_MEMO: dict[tuple[str, bytes], dict[str, Tensor]] = {}


def _crop_digests(x: Tensor) -> list[bytes]:
    import hashlib

    a = x.detach().float().cpu().contiguous().numpy()
    return [hashlib.blake2b(a[i].tobytes(), digest_size=16).digest() for i in range(a.shape[0])]


def freeze_teacher(model: nn.Module) -> nn.Module:
    """Eval mode (BN statistics frozen), no gradients; ``train()`` calls keep it in eval mode."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.train = lambda mode=True: model  # a frozen teacher never goes back to training mode
    return model


class Adapter(nn.Sequential):
    """1×1 conv + BN lifting student channels to the teacher's (Shu et al.; Zhou et al. add a ReLU)."""

    def __init__(self, c_in: int, c_out: int, relu: bool = False):
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _taps(model: nn.Module) -> dict[str, dict[str, Any]]:
    info = getattr(model, "feature_info", None)
    if info is None:
        raise FacekdError(f"{type(model).__name__} has no feature_info: it cannot be distilled from/into")
    return {d["name"]: d for d in info}


class Distiller(Task):
    """Holds frozen teachers (T1 = HRNet-W32, T2 = HRNetV2-W18), adapters and discriminators.

    ``teachers`` maps "t1"/"t2" to modules (already loaded); the trainer's student arrives in :meth:`setup`.
    """

    def __init__(self, cfg: DistillConfig, teachers: dict[str, nn.Module], student: nn.Module | None = None):
        errs = cfg.validate()
        if errs:
            raise FacekdError("; ".join(errs))
        missing = sorted(cfg.needed_teachers() - set(teachers))
        if missing:
            raise FacekdError(f"the distillation config needs teacher(s) {missing}: pass --teacher1/--teacher2 "
                              "or set distill.teacher1/teacher2")
        self.cfg = cfg
        self.teachers = {k: freeze_teacher(m) for k, m in teachers.items()}
        self.adapters = nn.ModuleDict()
        self.discriminators = nn.ModuleDict()
        self.d_optimizer: torch.optim.Optimizer | None = None
        self._cache: dict[str, Tensor] = {}
        self.device = torch.device("cpu")
        if student is not None:
            self._build(student)

    # -- construction -----------------------------------------------------------------------------
    def setup(self, trainer) -> None:  # noqa: D401 - Task hook
        self.device = trainer.device
        if trainer.cfg.runtime.channels_last:
            for t in self.teachers.values():
                t.to(memory_format=torch.channels_last)
        if trainer.model.output_type != "heatmap":
            raise FacekdError("distillation needs a heatmap student (got a coordinate-regression model)")
        if self.cfg.teacher_cache and trainer.cfg.augment:
            raise FacekdError("distill.teacher_cache needs identical crops every epoch: set augment: null "
                              "(random augmentation would make every crop new and the cache grow without bound)")
        self._build(trainer.model)

    def _build(self, student: nn.Module) -> None:
        cfg = self.cfg
        s_taps = _taps(student)
        k = s_taps["heatmaps"]["channels"]
        for name, t in self.teachers.items():
            t.to(self.device)
            tk = _taps(t)["heatmaps"]
            if tk["channels"] != k or tk["stride"] != s_taps["heatmaps"]["stride"]:
                raise FacekdError(f"teacher {name} predicts {tk['channels']} heatmaps at stride {tk['stride']}, "
                                  f"the student {k} at stride {s_taps['heatmaps']['stride']}")
        if cfg.lambda_cd > 0:
            t_taps = _taps(self.teachers["t1"])
            for tap in cfg.cd_taps:
                if tap not in s_taps or tap not in t_taps:
                    raise FacekdError(f"distill.cd_taps: {tap!r} is not a tap of both the student and T1; student: "
                                      f"{sorted(s_taps)}; T1: {sorted(t_taps)}")
                if s_taps[tap]["stride"] != t_taps[tap]["stride"]:
                    raise FacekdError(f"distill.cd_taps: {tap!r} has stride {s_taps[tap]['stride']} in the student "
                                      f"but {t_taps[tap]['stride']} in T1")
                if tap != "heatmaps":
                    self.adapters[tap.replace(".", "_")] = Adapter(
                        s_taps[tap]["channels"], t_taps[tap]["channels"], relu=cfg.cd_kind == "channel")
        if cfg.lambda_akd > 0:
            img_c = 3 if cfg.disc_condition_on_image else 0
            make = lambda: HeatmapDiscriminator(k, cfg.disc_width, cfg.disc_layers, img_c)  # noqa: E731
            names = ["shared"] if cfg.shared_discriminator else ["t1", "t2"]
            for n in names:
                self.discriminators[n] = make()
            self.d_optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=cfg.disc_lr,
                                                betas=tuple(cfg.disc_betas))
        self.adapters.to(self.device)
        self.discriminators.to(self.device)

    def extra_parameters(self) -> list[nn.Parameter]:
        return list(self.adapters.parameters())

    def _disc(self, teacher: str) -> nn.Module:
        return self.discriminators["shared" if self.cfg.shared_discriminator else teacher]

    # -- the student step -------------------------------------------------------------------------
    def losses(self, batch: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        cfg = self.cfg
        x = batch["image"]
        need_feats = cfg.lambda_cd > 0 and any(t != "heatmaps" for t in cfg.cd_taps)
        s_out = model(x, return_features=True) if need_feats else {"heatmaps": model(x)}
        s_hm = s_out["heatmaps"]
        t_out: dict[str, dict[str, Tensor]] = {}
        with torch.no_grad():
            for name in sorted(cfg.needed_teachers()):
                t_out[name] = self._teacher_forward(name, x, need_feats and name == "t1")
        terms: dict[str, Tensor] = {}
        if cfg.lambda_kd > 0:
            kd_t = [t_out[n]["heatmaps"].float() for n in cfg.kd_teachers] if cfg.alpha > 0 else []
            kd = heatmap_kd_loss(s_hm.float(), batch["heatmap"], kd_t, batch.get("weight"), alpha=cfg.alpha,
                                 mode=cfg.teacher_weighting, tau=cfg.weighting_tau)
            terms["kd"] = cfg.lambda_kd * kd["kd"]
        if cfg.lambda_cd > 0:
            cd = s_hm.new_zeros((), dtype=torch.float32)
            for tap in cfg.cd_taps:
                s = s_out[tap]
                if tap != "heatmaps":
                    s = self.adapters[tap.replace(".", "_")](s)
                t = t_out["t1"][tap]
                if cfg.cd_kind == "channel":
                    cd = cd + channel_distillation(s, t)
                elif tap == "heatmaps":
                    cd = cd + channel_wise_distillation(s, t, tau=cfg.cd_tau, normalize="standardize")
                else:
                    cd = cd + channel_wise_distillation(s, t, tau=cfg.cd_feature_tau)
            terms["cd"] = cfg.lambda_cd * cd / len(cfg.cd_taps)
        if cfg.lambda_akd > 0:
            img = x if cfg.disc_condition_on_image else None
            self.discriminators.requires_grad_(False)  # the student's term moves S, not D
            for name, key in (("t1", "a1"), ("t2", "a2")):
                terms[key] = cfg.lambda_akd * generator_loss(self._disc(name)(s_hm, img), cfg.gan_mode)
            self._cache = {"s": s_hm.detach().float(), "t1": t_out["t1"]["heatmaps"].float(),
                           "t2": t_out["t2"]["heatmaps"].float()}
            if img is not None:
                self._cache["img"] = img.detach()
        return terms

    def _teacher_forward(self, name: str, x: Tensor, feats: bool) -> dict[str, Tensor]:
        t = self.teachers[name]
        if not self.cfg.teacher_cache:
            return t(x, return_features=True) if feats else {"heatmaps": t(x)}
        path = self.cfg.teacher1 if name == "t1" else self.cfg.teacher2
        tag = f"{name}:{path or id(t)}:{int(feats)}"
        keys = [(tag, d) for d in _crop_digests(x)]
        missing = [i for i, k in enumerate(keys) if k not in _TEACHER_MEMO]
        if missing:
            xm = x[missing]
            out = t(xm, return_features=True) if feats else {"heatmaps": t(xm)}
            for j, i in enumerate(missing):
                _TEACHER_MEMO[keys[i]] = {k: v[j].detach().cpu().clone() for k, v in out.items()}
        rows = [_TEACHER_MEMO[k] for k in keys]
        return {k: torch.stack([r[k] for r in rows]).to(x.device) for k in rows[0]}

    # -- the discriminator step -------------------------------------------------------------------
    def extra_step(self, batch: dict[str, Tensor]) -> dict[str, float] | None:
        if self.d_optimizer is None or not self._cache:
            return None
        c, img = self._cache, self._cache.get("img")
        self.discriminators.requires_grad_(True)
        with torch.autocast(self.device.type, enabled=False):
            losses = {}
            for name in ("t1", "t2"):
                d = self._disc(name)
                losses[name] = discriminator_loss(d(c[name], img), d(c["s"], img), self.cfg.gan_mode)
            total = sum(losses.values())
        self.d_optimizer.zero_grad(set_to_none=True)
        total.backward()
        if dist.is_available() and dist.is_initialized():
            ws = dist.get_world_size()
            for p in self.discriminators.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= ws
        self.d_optimizer.step()
        self._cache = {}
        return {f"d_{k}": float(v.detach()) for k, v in losses.items()}

    # -- checkpoints --------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"adapters": self.adapters.state_dict(), "discriminators": self.discriminators.state_dict(),
                "d_optimizer": self.d_optimizer.state_dict() if self.d_optimizer else None}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.adapters.load_state_dict(state["adapters"])
        self.discriminators.load_state_dict(state["discriminators"])
        if self.d_optimizer is not None and state.get("d_optimizer"):
            self.d_optimizer.load_state_dict(state["d_optimizer"])
