"""Training configuration: YAML -> nested dataclasses, with ``--set a.b=value`` overrides.

Unknown keys and ill-typed values raise :class:`FacekdError` naming the key. Relative paths are
kept as written (resolved against the working directory, i.e. the repo root for the shipped
recipes, by the trainer).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from facekd.distill.config import DistillConfig
from facekd.errors import FacekdError


@dataclass
class DataSource:
    """One dataset of a multi-dataset config: ``path`` (a spec for facekd.data.load_dataset),
    ``weight`` (training: the share of each epoch drawn from it is weight / sum of weights; ignored
    for validation), ``name`` (label in logs and metrics; default: the path's last folders) and
    ``labelled`` (false: a folder of face images WITHOUT landmarks, read as ``images:PATH`` — only the
    distiller can train on it, from a teacher targets cache; ground-truth training refuses it)."""

    path: str = ""
    weight: float = 1.0
    name: str = ""
    labelled: bool = True

    @property
    def spec(self) -> str:
        """The ``load_dataset`` spec of this source."""
        if not self.labelled and not self.path.lower().startswith("images:"):
            return "images:" + self.path
        return self.path

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return "/".join(Path(self.path).parts[-2:]) or self.path


def as_sources(spec: "str | list[DataSource] | None") -> list[DataSource]:
    """``data.train`` / ``data.val`` (one path or a list of sources) -> a list of sources."""
    if spec is None or spec == "":
        return []
    if isinstance(spec, str):
        return [DataSource(spec)]
    return list(spec)


@dataclass
class DataConfig:
    # one dataset path / spec for facekd.data.load_dataset, or a list of DataSource entries
    # (``- {path: ..., weight: ..., name: ...}``) of the same landmark scheme
    train: str | list[DataSource] = ""
    val: str | list[DataSource] | None = None  # several: each is reported, selection uses the mean NME
    epoch_size: int | None = None  # training faces per epoch (default: all faces of all train sources)
    scheme: str = "ibug68"  # built-in scheme name or a scheme YAML/JSON file
    input_size: int = 128
    crop_scale: float = 1.25
    batch_size: int = 16  # global batch, split evenly over DDP processes
    val_batch_size: int = 32
    workers: int = 0  # DataLoader worker processes
    max_samples: int | None = None  # use only the first N training faces (smoke runs, tests)
    max_val_samples: int | None = None
    description: str = ""  # training-data description for the model card (default: the paths)


@dataclass
class ModelConfig:
    name: str = "hrnet_slim_w16"  # a name from facekd.models.MODELS
    overrides: dict[str, Any] = field(default_factory=dict)  # architecture config fields
    init: str | None = None  # initial weights (.safetensors / .pt state dict)
    init_strict: bool = False  # every tensor must fit (else: copy the tensors that fit)


@dataclass
class CodecConfig:
    heatmap_size: int | None = None  # None: input_size / 4
    sigma: float = 1.5
    decode: str = "dark"


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam
    lr: float = 1e-3
    weight_decay: float = 1e-4  # not applied to norm weights and biases
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    ema_decay: float = 0.999  # EMA of the weights; 0 = off (validate/save the raw model)


@dataclass
class ScheduleConfig:
    epochs: int = 60
    kind: str = "cosine"  # cosine | step | constant (after warm-up)
    warmup_epochs: float = 1.0  # linear warm-up from 1% of lr
    milestones: list[int] = field(default_factory=lambda: [30, 50])  # step: epochs where lr *= gamma
    gamma: float = 0.1
    min_lr_ratio: float = 0.01  # cosine floor, fraction of lr


@dataclass
class RuntimeConfig:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast, CPU or CUDA) | fp16 (CUDA, with grad scaling) | auto (bf16 where
    #                          the device has bf16 units, else fp32: facekd.devices.resolve_precision)
    channels_last: bool = True
    threads: int = 0  # torch.set_num_threads; 0 = torch's default
    ckpt_every: int = 0  # also checkpoint every N optimizer steps (mid-epoch resume); 0 = epoch ends
    val_every: int = 1  # validate every N epochs (and after the last)
    log_every: int = 10  # CSV / TensorBoard step scalars every N steps
    tensorboard: bool = True  # if the tensorboard package is installed
    progress: bool = True  # tqdm bar (rank 0)
    freeze_bn: bool = False  # BatchNorm in eval mode during training (running stats fixed)
    sync_bn: bool = False  # SyncBatchNorm under DDP (CUDA only)
    deterministic: bool = True  # torch.use_deterministic_algorithms(warn_only) + seeded everything
    max_steps: int = 0  # stop after this many optimizer steps in total; 0 = no limit


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    augment: dict[str, Any] | None = field(default_factory=dict)  # facekd.data.AugmentConfig fields; null = none
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    distill: DistillConfig | None = None  # teachers + loss weights for `facekd distill`
    # PGD adversarial training (Kurakin et al.): facekd.robust.AdversarialTrainingConfig fields; null = off
    adversarial: dict[str, Any] | None = None
    seed: int = 0
    name: str = ""  # run name (default: the config file stem)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["optim"]["betas"] = list(self.optim.betas)
        if d["distill"] is not None:
            d["distill"]["disc_betas"] = list(self.distill.disc_betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        cfg = _build(cls, d, "")
        validate(cfg)
        return cfg

    @property
    def heatmap_size(self) -> int:
        return self.codec.heatmap_size or self.data.input_size // 4


def _is_dataclass_type(t: Any) -> bool:
    return isinstance(t, type) and dataclasses.is_dataclass(t)


def _coerce(t: Any, v: Any, key: str) -> Any:
    """Check/convert ``v`` to annotation ``t``; FacekdError naming ``key`` otherwise."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        errors, fitting = [], []  # fitting: errors of the alternatives of the value's own shape
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, v, key)
            except FacekdError as e:
                errors.append(str(e))
                a_origin = typing.get_origin(a)
                if (isinstance(v, (list, tuple)) and a_origin in (list, tuple)) or (
                        isinstance(v, dict) and (a_origin is dict or _is_dataclass_type(a))):
                    fitting.append(str(e))
        raise FacekdError((fitting or errors)[0] if errors else f"config key '{key}': bad value {v!r}")
    if _is_dataclass_type(t):
        return _build(t, v, key)
    if t is bool:
        if isinstance(v, bool):
            return v
        raise FacekdError(f"config key '{key}': expected true/false, got {v!r}")
    if t is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise FacekdError(f"config key '{key}': expected an integer, got {v!r}")
    if t is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(v)
            except ValueError:
                pass
        raise FacekdError(f"config key '{key}': expected a number, got {v!r}")
    if t is str:
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        raise FacekdError(f"config key '{key}': expected a string, got {v!r}")
    if origin in (list, tuple):
        if not isinstance(v, (list, tuple)):
            raise FacekdError(f"config key '{key}': expected a list, got {v!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(v) != len(args):
                raise FacekdError(f"config key '{key}': expected {len(args)} values, got {list(v)}")
            return tuple(_coerce(a, x, f"{key}[{i}]") for i, (a, x) in enumerate(zip(args, v)))
        item = args[0] if args else Any
        out = [_coerce(item, x, f"{key}[{i}]") for i, x in enumerate(v)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(v, dict):
            raise FacekdError(f"config key '{key}': expected a mapping, got {v!r}")
        return dict(v)
    raise FacekdError(f"config key '{key}': unsupported type {t}")  # pragma: no cover


def _build(cls: type, d: Any, prefix: str) -> Any:
    where = prefix or "config"
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise FacekdError(f"config section '{where}' must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in d if k not in names]
    if unknown:
        k = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise FacekdError(f"unknown config key '{k}'; valid keys in '{where}': {', '.join(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}.{k}" if prefix else k) for k, v in d.items()}
    return cls(**kwargs)


_CHOICES = {
    "optim.name": ("adamw", "adam"),
    "schedule.kind": ("cosine", "step", "constant"),
    "runtime.precision": ("fp32", "bf16", "fp16", "auto"),
}


def validate(cfg: TrainConfig) -> None:
    """Value checks beyond types (ranges, choices, augment keys)."""
    for key, choices in _CHOICES.items():
        sec, name = key.split(".")
        v = getattr(getattr(cfg, sec), name)
        if v not in choices:
            raise FacekdError(f"config key '{key}': {v!r} is not one of {', '.join(choices)}")

    def pos(key: str, v: float, allow_zero: bool = False) -> None:
        if v < 0 or (v == 0 and not allow_zero):
            raise FacekdError(f"config key '{key}' must be {'>= 0' if allow_zero else '> 0'}, got {v}")

    pos("data.input_size", cfg.data.input_size)
    pos("data.crop_scale", cfg.data.crop_scale)
    pos("data.batch_size", cfg.data.batch_size)
    pos("data.val_batch_size", cfg.data.val_batch_size)
    pos("data.workers", cfg.data.workers, True)
    pos("codec.sigma", cfg.codec.sigma)
    pos("optim.lr", cfg.optim.lr)
    pos("optim.weight_decay", cfg.optim.weight_decay, True)
    pos("optim.grad_clip", cfg.optim.grad_clip, True)
    pos("schedule.epochs", cfg.schedule.epochs)
    pos("schedule.warmup_epochs", cfg.schedule.warmup_epochs, True)
    pos("runtime.threads", cfg.runtime.threads, True)
    pos("runtime.ckpt_every", cfg.runtime.ckpt_every, True)
    pos("runtime.val_every", cfg.runtime.val_every)
    pos("runtime.log_every", cfg.runtime.log_every)
    pos("runtime.max_steps", cfg.runtime.max_steps, True)
    if not 0 <= cfg.optim.ema_decay < 1:
        raise FacekdError(f"config key 'optim.ema_decay' must be in [0, 1), got {cfg.optim.ema_decay}")
    if cfg.data.max_samples is not None:
        pos("data.max_samples", cfg.data.max_samples)
    if cfg.codec.heatmap_size is not None:
        pos("codec.heatmap_size", cfg.codec.heatmap_size)
    if not cfg.data.train:
        raise FacekdError("config key 'data.train' is required (a dataset path)")
    if cfg.data.epoch_size is not None:
        pos("data.epoch_size", cfg.data.epoch_size)
    for key, spec in (("data.train", cfg.data.train), ("data.val", cfg.data.val)):
        srcs = as_sources(spec)
        for i, src in enumerate(srcs):
            if not src.path:
                raise FacekdError(f"config key '{key}[{i}].path' is required (a dataset path)")
            if not (src.weight > 0 and src.weight < float("inf")):
                raise FacekdError(f"config key '{key}[{i}].weight' must be a finite number > 0, got {src.weight}")
        if key == "data.val":
            for i, src in enumerate(srcs):
                if not src.labelled or src.path.lower().startswith("images:"):
                    raise FacekdError(f"config key 'data.val[{i}]': {src.label!r} is unlabelled; validation needs "
                                      "landmarks")
        for i, src in enumerate(srcs):
            if src.labelled and src.path.lower().startswith("images:"):
                raise FacekdError(f"config key '{key}[{i}]': {src.path!r} is an image folder without landmarks: "
                                  "mark the source 'labelled: false'")
        labels = [s.label for s in srcs]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise FacekdError(f"config key '{key}': two sources are both named {dup[0]!r}; give them distinct 'name's")
    if cfg.distill is not None:
        errs = cfg.distill.validate()
        if errs:
            raise FacekdError("config key " + "; ".join(errs))
    if cfg.adversarial is not None:
        if cfg.distill is not None:
            raise FacekdError("config keys 'adversarial' and 'distill' cannot be combined (one training task per run)")
        try:
            from facekd.robust.config import AdversarialTrainingConfig
        except ImportError:  # torch not installed: checked when the trainer builds the task
            pass
        else:
            AdversarialTrainingConfig.from_dict(cfg.adversarial)  # raises naming the bad key / value
    if cfg.augment:
        try:
            from facekd.data import AugmentConfig
        except ImportError:  # data pipeline not installed: checked when the trainer builds it
            return
        names = [f.name for f in dataclasses.fields(AugmentConfig)]
        bad = [k for k in cfg.augment if k not in names]
        if bad:
            raise FacekdError(f"unknown config key 'augment.{bad[0]}'; valid keys in 'augment': "
                              f"{', '.join(names)}")


def _set_path(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for i, p in enumerate(parts[:-1]):
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise FacekdError(f"--set {key}: '{'.'.join(parts[:i + 1])}' is not a section")
        cur = nxt
    cur[parts[-1]] = value


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``["optim.lr=1e-3", "model.overrides.width=16"]`` -> [(key, YAML-parsed value)]."""
    import yaml

    out = []
    for item in items:
        if "=" not in item:
            raise FacekdError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise FacekdError(f"--set: bad key in {item!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out.append((key, value))
    return out


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                base: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config (or start from ``base``), apply ``--set`` overrides, validate."""
    import yaml

    d: dict[str, Any] = dict(base or {})
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FacekdError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise FacekdError(f"config {p}: invalid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise FacekdError(f"config {p}: top level must be a mapping")
        d = loaded
        d.setdefault("name", p.stem)
    for key, value in parse_overrides(overrides):
        _set_path(d, key, value)
    return TrainConfig.from_dict(d)


def dump_config(cfg: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
