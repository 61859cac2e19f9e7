"""The training loop: plain PyTorch, one process or DDP (``torchrun``), resumable mid-epoch.

What is optimised is a :class:`Task`: ``losses(batch, model) -> {name: tensor}`` (the total is the
sum; every term is logged). The default :class:`GroundTruthTask` is the weighted heatmap MSE (or a
coordinate loss for regression models). A distillation task adds teachers, adapters
(:meth:`Task.extra_parameters`) and maybe a discriminator step (:meth:`Task.extra_step`).

Exact resumption: the data order of epoch ``e`` is a permutation seeded by ``(seed, e)``, the
augmentation of each sample is drawn from ``(seed, epoch, index)`` by the dataset, the learning
rate is a function of the step, and checkpoints hold model, EMA, optimizer, scaler, RNG states and
the position in the epoch; a resumed run skips the batches already seen.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler

from facekd.config import TrainConfig, as_sources, dump_config
from facekd.devices import resolve_precision
from facekd.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from facekd.engine.ema import ModelEMA
from facekd.errors import FacekdError

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1


# -- tasks ----------------------------------------------------------------------------------------

class Task:
    """What the trainer optimises. Subclass and override :meth:`losses`; the rest is optional.

    ``model`` passed to :meth:`losses` is the (possibly DDP-wrapped) student: call ``model(x)`` for
    its output or ``model(x, return_features=True)`` for the dict of taps (going through the wrapper
    keeps DDP gradient sync correct). :meth:`losses` runs under the trainer's autocast.
    """

    def setup(self, trainer: "Trainer") -> None:
        """Called once the model, data and device are ready, before the optimizer is built."""

    def extra_parameters(self) -> list[nn.Parameter]:
        """Additional trainable parameters (e.g. feature adapters): optimised with the model in their
        own param group; their gradients are averaged over DDP processes by the trainer."""
        return []

    def losses(self, batch: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        raise NotImplementedError

    #: True for tasks that can train on unlabelled sources (``labelled: false``); the trainer refuses them otherwise
    uses_unlabelled: bool = False

    def data_targets(self, codec) -> Any:
        """Extra per-sample targets for the training crops (a ``CropDataset`` ``targets=`` sampler, e.g. the
        distiller's teacher targets cache), or None. Called before the datasets are built."""
        return None

    def extra_step(self, batch: dict[str, Tensor]) -> dict[str, float] | None:
        """Runs after each optimizer step (e.g. a discriminator update); returns scalars to log."""
        return None

    def extra_state(self) -> dict[str, Any]:
        """Task state to put in checkpoints (tensors and plain values only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""


class GroundTruthTask(Task):
    """Supervised loss against the dataset targets: heatmap MSE weighted by ``batch["weight"]``
    for heatmap models, smooth-L1 on crop-normalised coordinates for coordinate models."""

    def __init__(self, output_type: str = "heatmap", input_size: int | None = None,
                 flip_perm: list[int] | None = None) -> None:
        self.output_type = output_type
        self.input_size = input_size
        self.flip_perm = flip_perm

    def setup(self, trainer: "Trainer") -> None:
        self.output_type = trainer.model.output_type
        self.input_size = trainer.cfg.data.input_size
        self.flip_perm = list(trainer.scheme.flip_perm)

    def losses(self, batch: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        from facekd.losses.heatmap import coord_l1, heatmap_mse

        out = model(batch["image"])
        if self.output_type == "heatmap":
            return {"heatmap": heatmap_mse(out, batch["heatmap"], batch["weight"])}
        from facekd.models.outputs import image_to_coords

        target = image_to_coords(batch["landmarks"].float(), batch["affine"], self.input_size)
        if "flipped" in batch and self.flip_perm is not None:  # mirrored crops swap left/right points
            f = batch["flipped"].bool().to(target.device)
            target = torch.where(f[:, None, None], target[:, self.flip_perm], target)
        w = batch["weight"].float()
        target = torch.where(w[..., None] > 0, torch.nan_to_num(target), out.detach().float())
        return {"coords": coord_l1(out, target, w)}


# -- distributed / sampling -----------------------------------------------------------------------

@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group set up by ``torchrun`` (NCCL on CUDA, gloo on CPU), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info


class ResumableSampler(Sampler[int]):
    """Per-epoch permutation seeded by ``(seed, epoch)``, cut to whole global batches; rank ``r``
    of ``world`` takes every ``world``-th index (so a global batch holds the same faces whatever
    the process count), and the first ``skip_steps`` batches can be skipped on resume.

    ``groups``: for a concatenation of datasets, ``[(size, count), ...]`` in concatenation order:
    each epoch draws ``count`` faces of each (a fresh seeded permutation, repeated when ``count``
    exceeds ``size``) and shuffles them together (see :func:`epoch_counts`)."""

    def __init__(self, n: int, global_batch: int, rank: int = 0, world: int = 1, seed: int = 0,
                 shuffle: bool = True, groups: Sequence[tuple[int, int]] | None = None) -> None:
        if global_batch % world:
            raise FacekdError(f"data.batch_size={global_batch} must be divisible by the number of "
                              f"processes ({world})")
        if groups is not None:
            if sum(size for size, _ in groups) != n or any(size < 1 or c < 0 for size, c in groups):
                raise FacekdError(f"sampler groups {list(groups)} do not partition {n} faces")
            self.groups: list[tuple[int, int]] | None = [(int(a), int(b)) for a, b in groups]
            per_epoch = sum(c for _, c in groups)
        else:
            self.groups, per_epoch = None, n
        if per_epoch < global_batch:
            raise FacekdError(f"the training set has {per_epoch} faces per epoch, fewer than "
                              f"data.batch_size={global_batch}")
        self.n, self.global_batch, self.rank, self.world = n, global_batch, rank, world
        self.local_batch = global_batch // world
        self.seed, self.shuffle = seed, shuffle
        self.steps_per_epoch = per_epoch // global_batch
        self.epoch, self.skip_steps = 0, 0

    def set_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        self.epoch, self.skip_steps = epoch, skip_steps

    def epoch_indices(self, epoch: int) -> list[int]:
        """All indices of ``epoch`` for this rank, in order (no skipping)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.groups is not None:
            parts, offset = [], 0
            for size, count in self.groups:
                reps = -(-count // size)
                draw = [torch.randperm(size, generator=g) if self.shuffle else torch.arange(size)
                        for _ in range(reps)]
                parts.append(torch.cat(draw)[:count] + offset if draw else torch.zeros(0, dtype=torch.int64))
                offset += size
            perm = torch.cat(parts)
            if self.shuffle:
                perm = perm[torch.randperm(len(perm), generator=g)]
        elif self.shuffle:
            perm = torch.randperm(self.n, generator=g)
        else:
            perm = torch.arange(self.n)
        perm = perm[: self.steps_per_epoch * self.global_batch]
        return perm[self.rank:: self.world].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices(self.epoch)[self.skip_steps * self.local_batch:])

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.skip_steps) * self.local_batch


def epoch_counts(sizes: Sequence[int], weights: Sequence[float], epoch_size: int | None = None) -> list[int]:
    """Faces drawn per epoch from each dataset: ``epoch_size`` (default: all faces) split in
    proportion to ``weights`` (largest remainders, so the counts add up exactly)."""
    total = int(epoch_size if epoch_size is not None else sum(sizes))
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, sched) -> float:
    """Learning-rate multiplier at optimizer step ``step`` (0-based): linear warm-up from 0.01,
    then cosine (to ``min_lr_ratio``), step decay at epoch milestones, or constant."""
    warm = int(round(sched.warmup_epochs * steps_per_epoch))
    if step < warm:
        return 0.01 + 0.99 * step / warm
    if sched.kind == "cosine":
        t = (step - warm) / max(1, total_steps - warm)
        t = min(1.0, t)
        return sched.min_lr_ratio + (1 - sched.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    if sched.kind == "step":
        epoch = step / steps_per_epoch
        return sched.gamma ** sum(epoch >= m for m in sched.milestones)
    return 1.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    # the dataset draws augmentation from (seed, epoch, index); this only pins stray global RNG use
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


def _subset_indices(n: int, k: int | None) -> list[int] | None:
    """``k`` evenly spread indices of ``n`` (deterministic), or None for all."""
    if k is None or k >= n:
        return None
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


# -- results --------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    out_dir: Path
    best_nme: float | None
    best_epoch: int | None
    steps: int
    epochs_done: int
    elapsed_s: float
    samples_per_s: float
    cpu_s: float = 0.0  # process CPU time of the training steps (all threads of this process)
    history: list[dict[str, Any]] = field(default_factory=list)  # per validation: epoch, metrics

    def summary(self) -> str:
        best = (f"best val NME {100 * self.best_nme:.3f}% (epoch {self.best_epoch})"
                if self.best_nme is not None else "no validation")
        return (f"done: {best}, {self.steps} steps / {self.epochs_done} epochs in "
                f"{self.elapsed_s:.1f} s, {self.samples_per_s:.1f} samples/s "
                f"({self.elapsed_s and self.cpu_s / self.elapsed_s:.2f} CPU-s per s)")


class _CsvLog:
    """Append-only CSV whose header is fixed by the first row; rows past ``keep_step`` are dropped
    when a run resumes (they came after the checkpoint)."""

    def __init__(self, path: Path, keep_step: int | None) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if keep_step is not None and path.is_file():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            rows = [r for r in rows if int(r["step"]) <= keep_step]
            if rows:
                self.fields = list(rows[0].keys())
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=self.fields)
                    w.writeheader()
                    w.writerows(rows)
            else:
                path.unlink()
        elif path.is_file():
            path.unlink()

    def write(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row.keys())
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()
        extra = [k for k in row if k not in self.fields]
        if extra:  # a new loss term appeared: rewrite with the wider header
            with open(self.path, newline="") as f:
                old = list(csv.DictReader(f))
            self.fields += extra
            with open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.fields)
                w.writeheader()
                w.writerows(old)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(
                {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})


# -- trainer --------------------------------------------------------------------------------------

class Trainer:
    """Builds data, model, optimizer from a :class:`TrainConfig` and runs :meth:`fit`.

    Files in ``out_dir``: ``config.yaml``, ``last.pt`` (checkpoint), ``train_log.csv``,
    ``val_log.csv``, ``tb/`` (TensorBoard), ``best/`` and ``final/`` (``save_model`` directories:
    model.safetensors + model.json), ``summary.json``.
    """

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, task: Task | None = None,
                 resume: bool = False, log=None) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.task = task or GroundTruthTask()
        self.resume = resume
        self._log_fn = log
        self._persistent_loaders: dict[int, DataLoader] = {}  # with an image cache: one loader per dataset
        self.device = self._pick_device(cfg.runtime.device)
        self.dist = init_distributed(self.device)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if cfg.runtime.threads:
            torch.set_num_threads(cfg.runtime.threads)
        self.precision, warning = resolve_precision(cfg.runtime.precision, self.device)
        if warning:
            self.log(warning)
        if cfg.runtime.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            if self.device.type == "cuda":
                torch.backends.cudnn.benchmark = False
        seed_everything(cfg.seed)
        self._ckpt_state: dict[str, Any] | None = None
        ckpt = self.out_dir / CHECKPOINT_NAME
        if resume and ckpt.is_file():
            self._ckpt_state = load_checkpoint(ckpt)
        elif not resume and ckpt.is_file():
            raise FacekdError(f"{self.out_dir} already holds a checkpoint ({CHECKPOINT_NAME}): pass "
                              "--resume to continue it, or choose another --out")
        elif resume:
            self.log(f"no checkpoint in {self.out_dir}: starting from scratch")
        self._build()

    # -- setup ------------------------------------------------------------------------------
    @staticmethod
    def _pick_device(name: str) -> torch.device:
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        from facekd.devices import torch_device

        return torch_device(name, name="runtime.device")

    def log(self, msg: str) -> None:
        if not self.dist.is_main:
            return
        if self._log_fn is not None:
            self._log_fn(msg)
        else:
            from tqdm import tqdm
            tqdm.write(msg, file=sys.stderr)

    def _build(self) -> None:
        from facekd.codecs import HeatmapCodec
        from facekd.data import AugmentConfig, CropDataset, load_dataset
        from facekd.models import create_model, init_from_file
        from facekd.schemes import as_scheme

        cfg = self.cfg
        self.scheme = as_scheme(cfg.data.scheme)
        self.codec = HeatmapCodec(cfg.data.input_size, cfg.heatmap_size, cfg.codec.sigma, decode=cfg.codec.decode)

        train_sources = as_sources(cfg.data.train)
        bases = [load_dataset(src.spec, scheme=self.scheme) for src in train_sources]
        for i, src in enumerate(train_sources):
            if not src.labelled and not self.task.uses_unlabelled:
                raise FacekdError(
                    f"data.train[{i}] ({src.label!r}) is unlabelled (labelled: false): ground-truth training cannot "
                    "use faces without landmarks; drop it, or distil with teacher targets (`facekd teach`, then "
                    "`facekd distill` with distill.targets)")
        if len(bases) == 1:
            base = bases[0]
        else:
            base = torch.utils.data.ConcatDataset(bases)
            base.scheme = self.scheme  # type: ignore[attr-defined]
        idx = _subset_indices(len(base), cfg.data.max_samples)
        if idx is not None:
            base = torch.utils.data.Subset(base, idx)
        augment = AugmentConfig.from_dict(cfg.augment) if cfg.augment is not None else None
        self.train_set = CropDataset(base, self.codec, self.scheme, augment=augment, seed=cfg.seed,
                                     crop_scale=cfg.data.crop_scale, targets=self.task.data_targets(self.codec))
        self.val_sets: dict[str, CropDataset] = {}
        for src in as_sources(cfg.data.val):
            vbase = load_dataset(src.spec, scheme=self.scheme)
            vidx = _subset_indices(len(vbase), cfg.data.max_val_samples)
            if vidx is not None:
                vbase = torch.utils.data.Subset(vbase, vidx)
            self.val_sets[src.label] = CropDataset(vbase, self.codec, self.scheme, augment=None, seed=cfg.seed,
                                                   crop_scale=cfg.data.crop_scale)
        self.val_set = next(iter(self.val_sets.values()), None)
        groups = None
        if idx is None and (len(bases) > 1 or cfg.data.epoch_size is not None):
            sizes = [len(b) for b in bases]
            counts = epoch_counts(sizes, [src.weight for src in train_sources], cfg.data.epoch_size)
            groups = list(zip(sizes, counts))
            self.log("training data: " + ", ".join(
                f"{src.label} {n} faces (weight {src.weight:g}: {c}/epoch)"
                for src, n, c in zip(train_sources, sizes, counts)))
        self.sampler = ResumableSampler(len(self.train_set), cfg.data.batch_size, self.dist.rank,
                                        self.dist.world, seed=cfg.seed, groups=groups)
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.total_steps = self.steps_per_epoch * cfg.schedule.epochs
        if cfg.runtime.max_steps:
            self.total_steps = min(self.total_steps, cfg.runtime.max_steps)

        self.model = create_model(cfg.model.name, self.scheme.num_points, **cfg.model.overrides)
        if cfg.model.init and self._ckpt_state is None:
            counts = init_from_file(self.model, cfg.model.init, strict=cfg.model.init_strict)
            self.log(f"init from {cfg.model.init}: {counts['loaded']}/{counts['model_tensors']} tensors "
                     f"loaded, {counts['skipped']} skipped")
        if cfg.runtime.sync_bn and self.dist.enabled:
            if self.device.type != "cuda":
                raise FacekdError("runtime.sync_bn needs CUDA (SyncBatchNorm does not run on CPU); "
                                  "use runtime.freeze_bn or plain BN on CPU")
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        if cfg.runtime.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.ema = ModelEMA(self.model, cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None

        self.task.setup(self)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        if self.dist.enabled:
            self.train_model: nn.Module = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        else:
            self.train_model = self.model
        self.card = self._make_card({})

    def _make_optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, "weight_decay": o.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        extra = [p for p in self.task.extra_parameters() if p.requires_grad]
        if extra:
            groups.append({"params": extra, "weight_decay": o.weight_decay})
        self.extra_params = extra
        cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam  # Adam: L2 in the gradient
        return cls(groups, lr=o.lr, betas=tuple(o.betas))

    def _make_card(self, metrics: dict[str, Any]):
        from facekd.models import card_for

        c = self.cfg
        val = ", ".join(src.path for src in as_sources(c.data.val))
        desc = c.data.description or ("train: " + ", ".join(
            f"{src.path} (weight {src.weight:g})" if len(as_sources(c.data.train)) > 1 else src.path
            for src in as_sources(c.data.train)) + (f"; val: {val}" if val else ""))
        mean = getattr(self.train_set, "mean", None)
        std = getattr(self.train_set, "std", None)
        return card_for(self.model, scheme=self.scheme, input_size=c.data.input_size, codec=self.codec,
                        crop_scale=c.data.crop_scale, mean=mean, std=std, training_data=desc,
                        metrics=metrics)

    def autocast(self):
        """The autocast context of the precision in use (no-op for fp32; ``auto`` is resolved per device)."""
        p = self.precision
        if p == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if p == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # -- batches ----------------------------------------------------------------------------
    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in batch.items():
            if isinstance(v, Tensor):
                v = v.to(self.device, non_blocking=True)
                if k == "image" and self.cfg.runtime.channels_last:
                    v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def _loader(self, dataset, sampler=None, batch_size: int = 1, shuffle: bool = False) -> DataLoader:
        from facekd.data.base import image_cache_budget

        w = self.cfg.data.workers
        # With an image cache ($FACEKD_IMAGE_CACHE_MB) each dataset's loader is made once and its workers live
        # across epochs, so every worker keeps what it decoded. The samples are the same either way: the
        # sampler runs here, and the epoch reaches the workers through the datasets' shared-memory counter.
        persistent = bool(w) and image_cache_budget() > 0
        key = id(dataset)
        if persistent and key in self._persistent_loaders:
            return self._persistent_loaders[key]
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=shuffle,
                            num_workers=w, persistent_workers=persistent,
                            drop_last=sampler is not None, worker_init_fn=_worker_init,
                            pin_memory=self.device.type == "cuda",
                            multiprocessing_context="fork" if w and sys.platform == "linux" else None)
        if persistent:
            self._persistent_loaders[key] = loader
        return loader

    def _set_train_mode(self) -> None:
        self.model.train()
        if self.cfg.runtime.freeze_bn:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    # -- checkpoints ------------------------------------------------------------------------
    def _checkpoint(self, epoch: int, step_in_epoch: int) -> None:
        if not self.dist.is_main:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "ema": self.ema.module.state_dict() if self.ema else None,
            "ema_updates": self.ema.updates if self.ema else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "step": self.step,
            "best": {"nme": self.best_nme, "epoch": self.best_epoch},
            "history": self.history,
            "samples_seen": self.samples_seen,
            "train_time_s": self.train_time,
            "cpu_time_s": self.cpu_time,
            "config": self.cfg.to_dict(),
            "card": self.card.to_dict(),
            "task": self.task.extra_state(),
        }
        save_checkpoint(self.out_dir / CHECKPOINT_NAME, state)

    def _restore(self, st: dict[str, Any]) -> None:
        if st.get("format") != CHECKPOINT_FORMAT:
            raise FacekdError(f"unsupported checkpoint format {st.get('format')!r}")
        if st["config"]["model"] != self.cfg.to_dict()["model"] or \
                st["config"]["data"]["input_size"] != self.cfg.data.input_size:
            raise FacekdError("the checkpoint was trained with another model or input size than this "
                              "config; resume with the same config (or omit --config)")
        self.model.load_state_dict(st["model"])
        if self.ema is not None and st.get("ema") is not None:
            self.ema.module.load_state_dict(st["ema"])
            self.ema.updates = int(st["ema_updates"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scaler.load_state_dict(st["scaler"])
        self.task.load_extra_state(st.get("task") or {})
        set_rng_state(st["rng"])
        self.step = int(st["step"])
        self.start_epoch, self.start_step_in_epoch = int(st["epoch"]), int(st["step_in_epoch"])
        self.best_nme, self.best_epoch = st["best"]["nme"], st["best"]["epoch"]
        self.history = list(st.get("history") or [])
        self.samples_seen = int(st.get("samples_seen", 0))
        self.train_time = float(st.get("train_time_s", 0.0))
        self.cpu_time = float(st.get("cpu_time_s", 0.0))

    # -- validation -------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, model: nn.Module | None = None) -> dict[str, float]:
        """NME (inter-ocular, fraction), FR@0.1 and AUC@0.1 of ``model`` (default: the EMA model)
        on the validation set, fp32. With several validation sets each one's metrics are reported
        as ``<name>/nme`` etc. and ``nme`` / ``fr`` / ``auc`` are their means (selection uses the
        mean NME); ``faces`` is the total."""
        if not self.val_sets:
            return {}
        model = model or (self.ema.module if self.ema else self.model)
        was = model.training
        model.eval()
        try:
            per_set = {name: self._validate_one(model, ds) for name, ds in self.val_sets.items()}
        finally:
            model.train(was)
        if len(per_set) == 1:
            return next(iter(per_set.values()))
        out: dict[str, float] = {k: float(np.mean([m[k] for m in per_set.values()])) for k in ("nme", "fr", "auc")}
        out["faces"] = int(sum(m["faces"] for m in per_set.values()))
        for name, m in per_set.items():
            out.update({f"{name}/{k}": v for k, v in m.items()})
        return out

    def _validate_one(self, model: nn.Module, dataset) -> dict[str, float]:
        from facekd.engine.metrics import auc, failure_rate, nme
        from facekd.models.outputs import decode_output

        preds, gts = [], []
        loader = self._loader(dataset, batch_size=self.cfg.data.val_batch_size)
        for batch in loader:
            x = batch["image"].to(self.device)
            if self.cfg.runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = model(x).float().cpu()
            pts, _ = decode_output(out, model.output_type, batch["affine"], codec=self.codec,
                                   input_size=self.cfg.data.input_size)
            preds.append(np.asarray(pts, dtype=np.float32))
            gts.append(batch["landmarks"].numpy().astype(np.float32))
        p, g = np.concatenate(preds), np.concatenate(gts)
        per_face = np.asarray(nme(p, g, self.scheme, norm="interocular"), dtype=np.float64)
        return {"nme": float(np.nanmean(per_face)), "fr": float(failure_rate(per_face, 0.1)),
                "auc": float(auc(per_face, 0.1)), "faces": int(len(per_face))}

    # -- the loop ---------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        from tqdm import tqdm

        cfg, main = self.cfg, self.dist.is_main
        self.step, self.start_epoch, self.start_step_in_epoch = 0, 0, 0
        self.best_nme: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, Any]] = []
        self.samples_seen, self.train_time, self.cpu_time = 0, 0.0, 0.0
        resumed = self._ckpt_state is not None
        if resumed:
            self._restore(self._ckpt_state)
            self._ckpt_state = None
            self.log(f"resumed from {self.out_dir / CHECKPOINT_NAME}: epoch {self.start_epoch + 1}, "
                     f"step {self.step} ({self.start_step_in_epoch}/{self.steps_per_epoch} in the epoch)")
        writer = None
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(dump_config(cfg))
            keep = self.step if resumed else None
            train_log = _CsvLog(self.out_dir / "train_log.csv", keep)
            val_log = _CsvLog(self.out_dir / "val_log.csv", keep)
            if cfg.runtime.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                    writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=self.step if resumed else None)
                except ImportError:
                    self.log("tensorboard not installed: CSV logs only")
        if main and not resumed:
            n_params = sum(p.numel() for p in self.model.parameters())
            self.log(f"{cfg.model.name}: {n_params / 1e6:.2f} M params | {len(self.train_set)} train faces"
                     f" ({self.steps_per_epoch} steps/epoch, batch {cfg.data.batch_size}"
                     f"{f' over {self.dist.world} processes' if self.dist.enabled else ''})"
                     f" | {sum(len(v) for v in self.val_sets.values())} val faces | {self.device}, "
                     f"{self.precision}{' (auto)' if cfg.runtime.precision == 'auto' else ''}, "
                     f"{torch.get_num_threads()} threads")

        lr0 = cfg.optim.lr
        stop = False
        epochs_done = self.start_epoch
        t_run = time.perf_counter()
        for epoch in range(self.start_epoch, cfg.schedule.epochs):
            if stop:
                break
            skip = self.start_step_in_epoch if epoch == self.start_epoch else 0
            self.sampler.set_epoch(epoch, skip)
            if hasattr(self.train_set, "set_epoch"):
                self.train_set.set_epoch(epoch)
            loader = self._loader(self.train_set, sampler=self.sampler, batch_size=self.sampler.local_batch)
            bar = tqdm(total=self.steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{cfg.schedule.epochs}",
                       disable=not (main and cfg.runtime.progress), dynamic_ncols=True, leave=False,
                       file=sys.stderr, mininterval=1.0)
            self._set_train_mode()
            step_in_epoch = skip
            running: dict[str, float] = {}
            t_last, n_last = time.perf_counter(), 0
            t_prev, c_prev = t_last, time.process_time()
            skipped = 0
            for batch in loader:
                if "skipped" in batch:  # bad samples the dataset passed over (unreadable image, …)
                    skipped += int(torch.as_tensor(batch["skipped"]).sum())
                batch = self.to_device(batch)
                lr = lr0 * lr_factor(self.step, self.total_steps, self.steps_per_epoch, cfg.schedule)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                with self.autocast():
                    terms = self.task.losses(batch, self.train_model)
                if not terms:
                    raise FacekdError("the task returned no loss terms")
                total = sum(terms.values())
                if not torch.isfinite(total):
                    raise FacekdError(f"loss is not finite at step {self.step} (epoch {epoch + 1}): "
                                      + ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
                                      + "; lower optim.lr or check the data")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(total).backward()
                if self.dist.enabled and self.extra_params:
                    for p in self.extra_params:
                        if p.grad is not None:
                            dist.all_reduce(p.grad)
                            p.grad /= self.dist.world
                grad_norm = None
                if cfg.optim.grad_clip > 0:
                    self.scaler.unscale_(self.optimizer)
                    params = [p for g in self.optimizer.param_groups for p in g["params"]]
                    grad_norm = float(nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip))
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if self.ema is not None:
                    self.ema.update(self.model)
                extra = self.task.extra_step(batch) or {}
                self.step += 1
                step_in_epoch += 1
                n = self.sampler.global_batch
                self.samples_seen += n
                now = time.perf_counter()
                self.train_time += now - t_prev  # data loading included
                c_now = time.process_time()
                self.cpu_time += c_now - c_prev
                t_prev, c_prev = now, c_now
                n_last += n

                vals = {k: float(v.detach()) for k, v in terms.items()}
                vals["loss"] = float(total.detach())
                for k, v in vals.items():
                    running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
                if self.step % cfg.runtime.log_every == 0 or step_in_epoch == self.steps_per_epoch:
                    logged = dict(vals)
                    if self.dist.enabled:  # average over processes
                        t = torch.tensor(list(logged.values()), dtype=torch.float64)
                        dist.all_reduce(t)
                        logged = dict(zip(logged, (t / self.dist.world).tolist()))
                    now = time.perf_counter()
                    sps = n_last / max(1e-9, now - t_last)
                    t_last, n_last = now, 0
                    if main:
                        row = {"step": self.step, "epoch": epoch + 1, "lr": lr, **logged, **extra,
                               "samples_per_s": sps}
                        if grad_norm is not None:
                            row["grad_norm"] = grad_norm
                        train_log.write(row)
                        if writer is not None:
                            for k, v in row.items():
                                if k not in ("step", "epoch"):
                                    writer.add_scalar(f"train/{k}", v, self.step)
                    bar.set_postfix(loss=f"{running['loss']:.3g}", lr=f"{lr:.2g}", sps=f"{sps:.1f}")
                bar.update(1)
                last_of_epoch = step_in_epoch == self.steps_per_epoch
                if cfg.runtime.max_steps and self.step >= cfg.runtime.max_steps:
                    stop = True
                if cfg.runtime.ckpt_every and self.step % cfg.runtime.ckpt_every == 0 and not last_of_epoch:
                    self._checkpoint(epoch, step_in_epoch)
                if stop:
                    break
            bar.close()
            if skipped:
                self.log(f"epoch {epoch + 1}: {skipped} bad training sample(s) skipped (rank {self.dist.rank})")
            epoch_done = step_in_epoch == self.steps_per_epoch
            epochs_done = epoch + 1 if epoch_done else epoch
            is_last = stop or epoch + 1 == cfg.schedule.epochs
            if epoch_done and ((epoch + 1) % cfg.runtime.val_every == 0 or is_last) or stop:
                self._validate_and_track(epoch, val_log if main else None, writer)
            if epoch_done:
                self._checkpoint(epoch + 1, 0)
            elif stop:
                self._checkpoint(epoch, step_in_epoch)
            if self.dist.enabled:
                dist.barrier()

        elapsed = time.perf_counter() - t_run
        result = TrainResult(self.out_dir, self.best_nme, self.best_epoch, self.step, epochs_done,
                             self.train_time, self.samples_seen / max(1e-9, self.train_time), self.cpu_time,
                             self.history)
        if main:
            from facekd.models import save_model

            final_model = self.ema.module if self.ema else self.model
            metrics = self.history[-1]["metrics"] if self.history else {}
            save_model(self.out_dir / "final", final_model, self._make_card(metrics))
            summary = {"best_nme": result.best_nme, "best_epoch": result.best_epoch, "steps": result.steps,
                       "train_time_s": result.elapsed_s, "wall_time_this_run_s": elapsed,
                       "samples_per_s": result.samples_per_s, "cpu_time_s": result.cpu_s,
                       "samples": self.samples_seen, "threads": torch.get_num_threads(),
                       "history": self.history}
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            if writer is not None:
                writer.close()
        self._persistent_loaders.clear()  # their workers (and image caches) end with the run
        return result

    def _validate_and_track(self, epoch: int, val_log, writer) -> None:
        metrics = self.validate() if self.dist.is_main else {}
        if not self.dist.is_main or not metrics:
            return
        improved = self.best_nme is None or metrics["nme"] < self.best_nme
        if improved:
            from facekd.models import save_model

            self.best_nme, self.best_epoch = metrics["nme"], epoch + 1
            save_model(self.out_dir / "best", self.ema.module if self.ema else self.model,
                       self._make_card({**metrics, "epoch": epoch + 1, "split": "val"}))
        self.history.append({"epoch": epoch + 1, "step": self.step, "metrics": metrics})
        val_log.write({"step": self.step, "epoch": epoch + 1, **{f"val_{k}": v for k, v in metrics.items()},
                       "best_nme": self.best_nme})
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, self.step)
        try:  # curves.png beside val_log.csv; a figure never stops a training
            from facekd.engine.plots import plot_learning_curves

            plot_learning_curves({self.out_dir.name: self.out_dir}, self.out_dir / "curves.png")
        except Exception as e:  # noqa: BLE001
            self.log(f"curves.png not written: {type(e).__name__}: {e}")
        self.log(f"epoch {epoch + 1}: val NME {100 * metrics['nme']:.3f}%  FR@0.1 {100 * metrics['fr']:.2f}%  "
                 f"AUC@0.1 {metrics['auc']:.4f}" + ("  (mean of " + ", ".join(
                     f"{k[:-4]} {100 * v:.3f}%" for k, v in metrics.items() if k.endswith("/nme")) + ")"
                     if len(self.val_sets) > 1 else "") + ("  (best)" if improved else "")
                 + f"  | best {100 * self.best_nme:.3f}% @ epoch {self.best_epoch}")


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False, task: Task | None = None) -> TrainResult:
    """Train per ``cfg`` into ``out_dir`` (see :class:`Trainer`)."""
    trainer = Trainer(cfg, out_dir, task=task, resume=resume)
    try:
        return trainer.fit()
    finally:
        if trainer.dist.enabled and dist.is_initialized():
            dist.destroy_process_group()
