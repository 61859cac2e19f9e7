"""The :class:`Distiller` task (see the package docstring and ``facekd.losses`` for the formulas)."""

from __future__ import annotations

import dataclasses
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
from facekd.losses.heatmap import heatmap_mse
from facekd.losses.kd import cached_kd_loss, heatmap_kd_loss


# (teacher tag, crop digest) -> that crop's teacher outputs; shared by the runs of one process (facekd ablate)
_TEACHER_MEMO: dict[tuple[str, bytes], dict[str, Tensor]] = {}


def _crop_digests(x: Tensor) -> list[bytes]:
    import hashlib

    a = x.detach().float().cpu().contiguous().numpy()
    return [hashlib.blake2b(a[i].tobytes(), digest_size=16).digest() for i in range(a.shape[0])]


def _grad_norm(loss: Tensor, wrt: Tensor) -> float:
    """‖∂loss/∂wrt‖ (the graph is kept for the real backward); 0 where ``loss`` does not depend on ``wrt``."""
    g = torch.autograd.grad(loss, wrt, retain_graph=True, allow_unused=True)[0]
    return 0.0 if g is None else float(g.detach().float().norm())


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
    """Holds frozen named teachers, adapters and discriminators (one per adversarial teacher, or shared).

    ``teachers`` maps names (as in ``cfg.teachers``) to modules, already loaded; the trainer's student arrives in
    :meth:`setup`. With ``cfg.targets`` (a cache made by ``facekd teach``) no live teacher is needed: the
    training crops carry the cached teacher targets, warped with each sample's augmentation
    (:mod:`facekd.distill.targets`), and unlabelled sources can join the training data.
    """

    @property
    def uses_unlabelled(self) -> bool:  # live teachers weight their term by the GT visibility: cache only
        return bool(self.cfg.targets)

    def __init__(self, cfg: DistillConfig, teachers: dict[str, nn.Module], student: nn.Module | None = None):
        extra = [n for n in teachers if n not in cfg.teachers]
        if extra:  # teachers given as modules only: name them in this distiller's own copy of the config
            cfg = dataclasses.replace(cfg, teachers={**cfg.teachers, **{n: f"<module {n}>" for n in extra}})
        errs = cfg.run_errors()
        if errs:
            raise FacekdError("; ".join(errs))
        self.cfg = cfg
        self.need = cfg.needed_teachers()
        if not cfg.teachers and not teachers and not cfg.targets and (
                (cfg.lambda_kd > 0 and cfg.alpha > 0) or cfg.cd_uses_teacher or cfg.lambda_akd > 0):
            raise FacekdError("the distillation config needs teachers: set distill.teachers ({name: model}), pass "
                              "--teacher NAME=PATH, or give a targets cache (distill.targets)")
        if not cfg.targets:
            missing = [n for n in self.need if n not in teachers]
            if missing:
                raise FacekdError(f"the distillation config needs teacher(s) {missing}: pass --teacher NAME=PATH "
                                  "or set distill.teachers")
        self.teachers = {k: freeze_teacher(m) for k, m in teachers.items()}
        self.adapters = nn.ModuleDict()
        self.discriminators = nn.ModuleDict()
        self.d_optimizer: torch.optim.Optimizer | None = None
        self._cache: dict[str, Tensor] = {}
        self._akd_lambda: dict[str, float] = {}  # the adversarial weights of the last student step (logged)
        self.cached_names: list[str] = []  # teacher order of the batch's t_heatmap / t_weight (targets cache)
        self.step = 0
        self.device = torch.device("cpu")
        if student is not None:
            self._build(student)

    # -- construction -----------------------------------------------------------------------------
    def data_targets(self, codec):
        """The teacher targets sampler of ``cfg.targets`` for the training crops (None without a cache)."""
        if not self.cfg.targets:
            return None
        from facekd.distill.targets import TargetSampler, TeacherTargets, WeightKnobs

        targets = TeacherTargets.load(self.cfg.targets)
        if not self.cfg.teachers:  # the cache names the teachers
            self.cfg = dataclasses.replace(self.cfg, teachers={
                t["name"]: t.get("path") or f"<cached {t['name']}>" for t in targets.meta["teachers"]})
            self.need = self.cfg.needed_teachers()
        names = self.need or targets.teacher_names
        sampler = TargetSampler(targets, codec, WeightKnobs.from_config(self.cfg), names, source=self.cfg.targets)
        self.cached_names = list(sampler.teachers)
        return sampler

    def setup(self, trainer) -> None:  # noqa: D401 - Task hook
        self.device = trainer.device
        if trainer.cfg.runtime.channels_last:
            for t in self.teachers.values():
                t.to(memory_format=torch.channels_last)
        if trainer.model.output_type != "heatmap":
            raise FacekdError("distillation needs a heatmap student (got a coordinate-regression model)")
        if self.cfg.teacher_cache and trainer.cfg.augment:
            raise FacekdError("distill.teacher_cache needs identical crops every epoch: set augment: null "
                              "(random augmentation would make every crop new and the cache grow without bound); "
                              "with augmentation use a targets cache (`facekd teach`, distill.targets)")
        self._build(trainer.model)

    def _build(self, student: nn.Module) -> None:
        cfg = self.cfg
        s_taps = _taps(student)
        k = s_taps["heatmaps"]["channels"]
        live = not cfg.targets
        for name, t in self.teachers.items():
            t.to(self.device)
            tk = _taps(t)["heatmaps"]
            if tk["channels"] != k or tk["stride"] != s_taps["heatmaps"]["stride"]:
                raise FacekdError(f"teacher {name} predicts {tk['channels']} heatmaps at stride {tk['stride']}, "
                                  f"the student {k} at stride {s_taps['heatmaps']['stride']}")
        if cfg.cd_uses_teacher and live:
            t_taps = _taps(self.teachers[cfg.cd_name])
            for tap in cfg.cd_taps:
                if tap not in s_taps or tap not in t_taps:
                    raise FacekdError(f"distill.cd_taps: {tap!r} is not a tap of both the student and teacher "
                                      f"{cfg.cd_name}; student: {sorted(s_taps)}; {cfg.cd_name}: {sorted(t_taps)}")
                if s_taps[tap]["stride"] != t_taps[tap]["stride"]:
                    raise FacekdError(f"distill.cd_taps: {tap!r} has stride {s_taps[tap]['stride']} in the student "
                                      f"but {t_taps[tap]['stride']} in {cfg.cd_name}")
                if tap != "heatmaps" and tap.replace(".", "_") not in self.adapters:
                    self.adapters[tap.replace(".", "_")] = Adapter(
                        s_taps[tap]["channels"], t_taps[tap]["channels"], relu=cfg.cd_kind == "channel")
        if cfg.lambda_akd > 0 and not len(self.discriminators):
            img_c = 3 if cfg.disc_condition_on_image else 0
            names = ["shared"] if cfg.shared_discriminator else cfg.akd_names
            for n in names:
                self.discriminators[n] = HeatmapDiscriminator(k, cfg.disc_width, cfg.disc_layers, img_c,
                                                              spectral_norm=cfg.disc_spectral_norm)
            self.d_optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=cfg.disc_lr,
                                                betas=tuple(cfg.disc_betas))
        self.adapters.to(self.device)
        self.discriminators.to(self.device)

    def extra_parameters(self) -> list[nn.Parameter]:
        return list(self.adapters.parameters())

    def extra_state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"step": self.step, "adapters": self.adapters.state_dict(),
                              "discriminators": self.discriminators.state_dict()}
        if self.d_optimizer is not None:
            st["d_optimizer"] = self.d_optimizer.state_dict()
        return st

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.step = int(state.get("step", 0))
        if "adapters" in state:
            self.adapters.load_state_dict(state["adapters"])
        if "discriminators" in state:
            self.discriminators.load_state_dict(state["discriminators"])
        if self.d_optimizer is not None and "d_optimizer" in state:
            self.d_optimizer.load_state_dict(state["d_optimizer"])

    def _disc(self, teacher: str) -> nn.Module:
        return self.discriminators["shared" if self.cfg.shared_discriminator else teacher]

    # -- the student step -------------------------------------------------------------------------
    def _teacher_maps(self, batch: dict[str, Tensor], x: Tensor, need_feats: bool
                      ) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
        """{name: {tap: tensor}} of the teachers the terms use, and {name: per-point KD weight [N, K]} (cache)."""
        cfg = self.cfg
        if not cfg.targets:
            with torch.no_grad():
                out = {n: self._teacher_forward(n, x, need_feats and n == cfg.cd_name) for n in self.need}
            return out, {}
        if "t_heatmap" not in batch:
            raise FacekdError("distill.targets is set but the batch has no teacher targets (t_heatmap): build the "
                              "training set with the distiller's data_targets()")
        hm, w = batch["t_heatmap"], batch["t_weight"]
        out = {n: {"heatmaps": hm[:, i]} for i, n in enumerate(self.cached_names)}
        return out, {n: w[:, i] for i, n in enumerate(self.cached_names)}

    def losses(self, batch: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        cfg = self.cfg
        x = batch["image"]
        need_feats = cfg.cd_uses_teacher and not cfg.targets and any(t != "heatmaps" for t in cfg.cd_taps)
        s_out = model(x, return_features=True) if need_feats else {"heatmaps": model(x)}
        s_hm = s_out["heatmaps"]
        t_out, t_w = self._teacher_maps(batch, x, need_feats)
        terms: dict[str, Tensor] = {}
        if cfg.lambda_kd > 0:
            use_t = cfg.alpha > 0 and bool(cfg.kd_names)
            if t_w and use_t:  # cached targets: per-point weights from agreement / confidence / crop
                kd = cached_kd_loss(s_hm.float(), batch["heatmap"], batch["weight"],
                                    [t_out[n]["heatmaps"].float() for n in cfg.kd_names],
                                    [t_w[n] for n in cfg.kd_names], torch.stack(list(t_w.values())).sum(0),
                                    alpha=cfg.alpha)
            else:
                kd_t = [t_out[n]["heatmaps"].float() for n in cfg.kd_names] if use_t else []
                kd = heatmap_kd_loss(s_hm.float(), batch["heatmap"], kd_t, batch.get("weight"), alpha=cfg.alpha,
                                     mode=cfg.teacher_weighting, tau=cfg.weighting_tau)
            terms["kd"] = cfg.lambda_kd * kd["kd"]
        if cfg.lambda_pl > 0:
            terms["pl"] = cfg.lambda_pl * heatmap_mse(s_hm.float(), batch["pl_heatmap"], batch["pl_weight"])
        if cfg.lambda_cd > 0 and cfg.cd_target == "ground_truth":  # the control: CWD's loss on the labels
            labelled = (batch["weight"] > 0).float()
            terms["cd"] = cfg.lambda_cd * channel_wise_distillation(s_hm, batch["heatmap"], tau=cfg.cd_tau,
                                                                    normalize="standardize", weight=labelled)
        elif cfg.lambda_cd > 0:
            cd = s_hm.new_zeros((), dtype=torch.float32)
            for tap in cfg.cd_taps:
                s = s_out[tap]
                if tap != "heatmaps":
                    s = self.adapters[tap.replace(".", "_")](s)
                t = t_out[cfg.cd_name][tap]
                if cfg.cd_kind == "channel":
                    cd = cd + channel_distillation(s, t)
                elif tap == "heatmaps":
                    cd = cd + channel_wise_distillation(s, t, tau=cfg.cd_tau, normalize="standardize")
                else:
                    cd = cd + channel_wise_distillation(s, t, tau=cfg.cd_feature_tau)
            terms["cd"] = cfg.lambda_cd * cd / len(cfg.cd_taps)
        if cfg.lambda_akd > 0:
            img = x if cfg.disc_condition_on_image else None
            scale = cfg.akd_scale(self.step)
            self.discriminators.requires_grad_(False)  # the student's term moves S, not D
            g_rest = None
            if scale > 0 and cfg.akd_grad_ratio > 0 and terms and s_hm.requires_grad:
                g_rest = _grad_norm(sum(terms.values()), s_hm)
            for name in cfg.akd_names:
                lam = cfg.lambda_akd * scale
                if scale > 0:
                    g = generator_loss(self._disc(name)(s_hm, img), cfg.gan_mode)
                    if g_rest is not None:  # balance: never more than ρ × the rest of the objective's pull on S
                        lam = min(lam, cfg.akd_grad_ratio * g_rest / max(_grad_norm(g, s_hm), 1e-12))
                    terms[f"a_{name}"] = lam * g
                else:  # warm-up: D learns, the student does not feel it yet (logged as 0)
                    terms[f"a_{name}"] = s_hm.new_zeros((), dtype=torch.float32)
                self._akd_lambda[name] = lam
            self._cache = {"s": s_hm.detach().float(),
                           **{f"t:{n}": t_out[n]["heatmaps"].detach().float() for n in cfg.akd_names}}
            if img is not None:
                self._cache["img"] = img.detach()
        return terms

    def _teacher_forward(self, name: str, x: Tensor, feats: bool) -> dict[str, Tensor]:
        t = self.teachers[name]
        if not self.cfg.teacher_cache:
            return t(x, return_features=True) if feats else {"heatmaps": t(x)}
        path = self.cfg.teachers.get(name)
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
        self.step += 1
        if self.d_optimizer is None or not self._cache:
            return None
        c, img = self._cache, self._cache.get("img")
        self.discriminators.requires_grad_(True)
        with torch.autocast(self.device.type, enabled=False):
            losses = {}
            for name in self.cfg.akd_names:
                d = self._disc(name)
                losses[name] = discriminator_loss(d(c[f"t:{name}"], img), d(c["s"], img), self.cfg.gan_mode)
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
        return {**{f"d_{k}": float(v.detach()) for k, v in losses.items()},
                **{f"lam_{k}": v for k, v in self._akd_lambda.items()}}
