"""Trainer: config, schedule, sampler, EMA, checkpoints, tasks and short end-to-end runs.

The runs use a generated 300W-style dataset (``make_pts_dataset``, also used by the resume and DDP
tests) and a tiny HRNet, so they need no shared data and take seconds.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from facekd.config import TrainConfig, load_config, parse_overrides
from facekd.errors import FacekdError

REPO = Path(__file__).resolve().parents[1]

# A two-branch HRNet small enough for CPU unit tests.
TINY_MODEL = {"name": "hrnet_slim_w8", "overrides": {
    "num_stages": 2, "stage_modules": [1], "stage_blocks": [1], "stage1_blocks": 1, "width": 4,
    "stem_width": 8, "stage1_width": 8, "head_channels": 16}}


def _symmetric_template(scheme, rng: np.random.Generator) -> np.ndarray:
    """A point layout in [-1, 1]^2 that mirrors onto itself under the scheme's flip_perm (so flip
    augmentation is consistent), with the eye corners well apart."""
    k = scheme.num_points
    pts = np.zeros((k, 2))
    for i, j in enumerate(scheme.flip_perm):
        if j == i:
            pts[i] = (0.0, rng.uniform(-0.8, 0.8))
        elif i < j:
            pts[i] = (rng.uniform(-0.9, -0.1), rng.uniform(-0.8, 0.8))
            pts[j] = (-pts[i, 0], pts[i, 1])
    a, b = scheme.eye_corners
    pts[a], pts[b] = (-0.7, -0.3), (0.7, -0.3)
    return pts


def make_pts_dataset(root: Path, n: int, scheme_name: str = "ibug68", size: int = 64, seed: int = 0) -> Path:
    """Write ``n`` synthetic faces (JPEG + 1-based 300W ``.pts``): coloured dots at the points on a
    noisy background, each face randomly scaled, shifted and rotated."""
    from facekd.schemes import get_scheme
    from PIL import Image, ImageDraw

    scheme = get_scheme(scheme_name)
    rng = np.random.default_rng(seed)
    tpl = _symmetric_template(scheme, np.random.default_rng(1234))
    colours = (np.random.default_rng(99).uniform(40, 255, size=(scheme.num_points, 3))).astype(int)
    root.mkdir(parents=True, exist_ok=True)
    for f in range(n):
        s = size * rng.uniform(0.25, 0.32)
        ang = np.deg2rad(rng.uniform(-15, 15))
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        centre = size / 2 + rng.uniform(-4, 4, size=2)
        pts = (tpl @ rot.T) * s + centre
        img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
        im = Image.fromarray(img)
        d = ImageDraw.Draw(im)
        for (x, y), c in zip(pts, colours):
            d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=tuple(int(v) for v in c))
        name = f"face_{f:03d}"
        im.save(root / f"{name}.jpg", quality=95)
        with open(root / f"{name}.pts", "w") as fh:
            fh.write(f"version: 1\nn_points:  {scheme.num_points}\n{{\n")
            for x, y in pts:
                fh.write(f"{x + 1:.3f} {y + 1:.3f}\n")  # .pts files are 1-based
            fh.write("}\n")
    return root


def tiny_config(train: Path, val: Path | None, **over) -> dict:
    """A config dict for a few-second CPU run on ``make_pts_dataset`` data."""
    cfg = {
        "data": {"train": str(train), "val": str(val) if val else None, "scheme": "ibug68", "input_size": 32,
                 "batch_size": 4, "val_batch_size": 8, "workers": 0},
        "model": copy.deepcopy(TINY_MODEL),
        "codec": {"sigma": 1.0, "decode": "dark"},
        "augment": {"scale": 0.1, "rotation": 10.0, "flip_p": 0.5, "color_p": 0.5, "occlusion_p": 0.0},
        "optim": {"lr": 5e-3, "ema_decay": 0.9, "grad_clip": 10.0},
        "schedule": {"epochs": 2, "warmup_epochs": 0.5},
        "runtime": {"precision": "fp32", "threads": 1, "tensorboard": False, "progress": False,
                    "channels_last": True},
        "seed": 3,
    }
    for key, value in over.items():
        sec, name = key.split("__")
        cfg.setdefault(sec, {})[name] = value
    return cfg


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("synth")
    return make_pts_dataset(root / "train", 16, seed=1), make_pts_dataset(root / "val", 6, seed=2)


# -- config ---------------------------------------------------------------------------------------

def test_synthetic_dataset_loads(synth):
    from facekd.data import load_dataset

    ds = load_dataset(str(synth[0]), scheme="ibug68")
    assert len(ds) == 16
    item = ds[0]
    assert item["image"].shape == (64, 64, 3) and np.isfinite(item["landmarks"]).all()


def test_shipped_configs_parse():
    from facekd.models import MODELS

    cfg_dir = REPO / "configs"  # the training recipes (distillation configs belong to `facekd distill`)
    files = sorted([*cfg_dir.glob("teacher_*.yaml"), *cfg_dir.glob("student_*.yaml"), *cfg_dir.glob("tiny_ci.yaml")])
    if not files:
        pytest.skip("configs/ not found beside the tests")
    names = {f.stem for f in files}
    for want in ("teacher_hrnet_w32_ytf68", "teacher_hrnetv2_w18_ytf68", "student_hrnet_slim_ytf68", "tiny_ci",
                 "teacher_hrnetv2_w18_wflw", "teacher_hrnetv2_w18_300w"):
        assert want in names
    for f in files:
        cfg = load_config(f)
        assert cfg.model.name in MODELS, f
        assert cfg.heatmap_size * 4 == cfg.data.input_size, f
        if f.stem.endswith("_wflw"):
            assert (cfg.codec.sigma, cfg.schedule.epochs, cfg.data.input_size) == (1.5, 60, 256)
        if f.stem.endswith("_300w"):
            assert (cfg.codec.sigma, cfg.schedule.epochs, cfg.data.input_size) == (1.0, 60, 256)


def test_config_errors_name_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"train": "x", "batchsize": 3}}))
    with pytest.raises(FacekdError, match="unknown config key 'data.batchsize'"):
        load_config(p)
    p.write_text(yaml.safe_dump({"data": {"train": "x"}, "augment": {"rotate": 3}}))
    with pytest.raises(FacekdError, match="unknown config key 'augment.rotate'"):
        load_config(p)
    p.write_text("data: [1, 2\n")
    with pytest.raises(FacekdError, match="invalid YAML"):
        load_config(p)
    p.write_text(yaml.safe_dump({"data": {"train": "x"}}))
    with pytest.raises(FacekdError, match="'optim.lr': expected a number"):
        load_config(p, ["optim.lr=fast"])
    with pytest.raises(FacekdError, match="must be > 0"):
        load_config(p, ["optim.lr=0"])
    with pytest.raises(FacekdError, match="key=value"):
        load_config(p, ["optim.lr"])
    with pytest.raises(FacekdError, match="'data.train' is required"):
        TrainConfig.from_dict({})
    cfg = load_config(p, ["optim.lr=1e-3", "schedule.milestones=[3, 5]", "model.overrides.width=6",
                          "data.val=null", "optim.betas=[0.8, 0.9]"])
    assert cfg.optim.lr == 1e-3 and cfg.schedule.milestones == [3, 5]
    assert cfg.model.overrides == {"width": 6} and cfg.data.val is None and cfg.optim.betas == (0.8, 0.9)
    assert cfg.name == "c"
    assert parse_overrides(["a.b=1", "c=x=y"]) == [("a.b", 1), ("c", "x=y")]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


# -- schedule, sampler, EMA, checkpoint ----------------------------------------------------------

def test_lr_schedule_shapes():
    from facekd.config import ScheduleConfig
    from facekd.engine.trainer import lr_factor

    s = ScheduleConfig(epochs=10, kind="cosine", warmup_epochs=1, min_lr_ratio=0.05)
    f = [lr_factor(i, 100, 10, s) for i in range(100)]
    assert f[0] == pytest.approx(0.01) and f[10] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:10], f[1:11]))  # warm-up rises
    assert all(a >= b for a, b in zip(f[10:], f[11:]))  # cosine falls
    assert f[99] == pytest.approx(0.05, abs=2e-3)
    s = ScheduleConfig(epochs=10, kind="step", warmup_epochs=0, milestones=[3, 6], gamma=0.1)
    assert [lr_factor(i, 100, 10, s) for i in (0, 29, 30, 59, 60)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_sampler_splits_global_batches_across_processes():
    from facekd.engine.trainer import ResumableSampler

    one = ResumableSampler(22, 4, seed=5)
    two = [ResumableSampler(22, 4, rank=r, world=2, seed=5) for r in range(2)]
    assert one.steps_per_epoch == 5 and len(one) == 20
    for epoch in (0, 1):
        full = one.epoch_indices(epoch)
        parts = [s.epoch_indices(epoch) for s in two]
        for step in range(5):
            assert sorted(full[4 * step: 4 * step + 4]) == sorted(parts[0][2 * step: 2 * step + 2]
                                                                  + parts[1][2 * step: 2 * step + 2])
    assert one.epoch_indices(0) != one.epoch_indices(1)  # reshuffled each epoch
    assert one.epoch_indices(1) == ResumableSampler(22, 4, seed=5).epoch_indices(1)  # reproducible
    one.set_epoch(1, skip_steps=3)
    assert list(one) == one.epoch_indices(1)[12:] and len(one) == 8
    with pytest.raises(FacekdError, match="divisible"):
        ResumableSampler(22, 3, world=2)
    with pytest.raises(FacekdError, match="fewer than data.batch_size"):
        ResumableSampler(3, 4)


def test_ema_follows_the_weights():
    from facekd.engine.ema import ModelEMA

    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEMA(m, decay=0.5)
    w0 = m[0].weight.detach().clone()
    with torch.no_grad():
        m[0].weight.add_(1.0)
        m[1].num_batches_tracked += 7
    d = ema.current_decay()
    assert d == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    ema.update(m)
    torch.testing.assert_close(ema.module[0].weight, d * w0 + (1 - d) * (w0 + 1))
    assert int(ema.module[1].num_batches_tracked) == 7
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_checkpoint_write_is_atomic(tmp_path):
    from facekd.engine.checkpoint import load_checkpoint, save_checkpoint

    p = tmp_path / "last.pt"
    save_checkpoint(p, {"step": 1, "w": torch.ones(3)})
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint(p, {"step": 2, "bad": lambda: 0})  # not picklable: the write fails midway
    assert load_checkpoint(p)["step"] == 1  # the old checkpoint survives
    assert [f.name for f in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FacekdError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


# -- end-to-end ------------------------------------------------------------------------------------

def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_end_to_end(synth, tmp_path):
    from facekd.engine.trainer import train
    from facekd.models import load_model

    cfg = TrainConfig.from_dict(tiny_config(*synth, runtime__log_every=1, runtime__ckpt_every=3))
    res = train(cfg, tmp_path / "run")
    out = tmp_path / "run"
    for f in ("config.yaml", "last.pt", "train_log.csv", "val_log.csv", "summary.json",
              "best/model.safetensors", "best/model.json", "final/model.safetensors", "curves.png"):
        assert (out / f).is_file(), f
    assert res.steps == 8 and res.epochs_done == 2 and res.best_nme is not None and math.isfinite(res.best_nme)
    rows = _rows(out / "train_log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    assert all(float(r["loss"]) == pytest.approx(float(r["heatmap"])) for r in rows)
    assert float(rows[0]["lr"]) < float(rows[2]["lr"])  # warm-up
    val = _rows(out / "val_log.csv")
    assert [int(r["epoch"]) for r in val] == [1, 2]
    model, card = load_model(out / "best")
    assert card.metrics["nme"] == pytest.approx(res.best_nme) and card.input_size == 32
    assert card.training_data.startswith("train: ")
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, card.num_keypoints, 8, 8)
    # the checkpoint loads as a model too (EMA weights), weights_only
    m2, _ = load_model(out / "last.pt")
    torch.testing.assert_close(m2.state_dict()["final.weight"], model.state_dict()["final.weight"])
    with pytest.raises(FacekdError, match="already holds a checkpoint"):
        train(cfg, out)


def test_training_reduces_the_loss(synth, tmp_path):
    from facekd.engine.trainer import train

    cfg = TrainConfig.from_dict(tiny_config(synth[0], None, schedule__epochs=12, runtime__log_every=1,
                                            augment__flip_p=0.0))
    train(cfg, tmp_path)
    loss = [float(r["loss"]) for r in _rows(tmp_path / "train_log.csv")]
    assert np.mean(loss[-8:]) < 0.6 * np.mean(loss[:4])


def test_regression_baseline_trains(synth, tmp_path):
    from facekd.engine.trainer import train
    from facekd.models import load_model

    cfg = TrainConfig.from_dict(tiny_config(*synth, schedule__epochs=6, runtime__log_every=1,
                                            model__name="pfld_regress", model__overrides={"width_mult": 0.25},
                                            data__input_size=64))
    res = train(cfg, tmp_path)
    loss = [float(r["coords"]) for r in _rows(tmp_path / "train_log.csv")]
    assert np.mean(loss[-4:]) < np.mean(loss[:2])
    _, card = load_model(tmp_path / "best")
    assert card.output_type == "coords" and not card.codec and math.isfinite(res.best_nme)


def test_bf16_autocast_runs(synth, tmp_path):
    from facekd.engine.trainer import train

    cfg = TrainConfig.from_dict(tiny_config(*synth, runtime__precision="bf16", schedule__epochs=1,
                                            runtime__log_every=1))
    res = train(cfg, tmp_path)
    assert res.steps == 4 and all(math.isfinite(float(r["loss"])) for r in _rows(tmp_path / "train_log.csv"))


def test_fp16_needs_cuda(synth, tmp_path):
    from facekd.engine.trainer import Trainer

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    cfg = TrainConfig.from_dict(tiny_config(*synth, runtime__precision="fp16"))
    with pytest.raises(FacekdError, match="fp16 needs CUDA"):
        Trainer(cfg, tmp_path)


def test_precision_auto_picks_bf16_only_where_the_cpu_has_bf16_units(tmp_path):
    from facekd.devices import _cpu_flags, resolve_precision

    avx2 = frozenset({"sse4_2", "avx2", "fma"})
    zen4 = avx2 | {"avx512f", "avx512_bf16"}
    sapphire = avx2 | {"avx512f", "amx_tile", "amx_bf16"}
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, flags=avx2) == ("fp32", None)
    assert resolve_precision("auto", cpu, flags=zen4) == ("bf16", None)
    assert resolve_precision("auto", cpu, flags=sapphire) == ("bf16", None)
    assert resolve_precision("fp32", cpu, flags=zen4) == ("fp32", None)
    assert resolve_precision("bf16", cpu, flags=zen4) == ("bf16", None)
    kept, warning = resolve_precision("bf16", cpu, flags=avx2)  # the user's choice is kept, with one line
    assert kept == "bf16" and "no bf16 units" in warning and "auto" in warning
    with pytest.raises(FacekdError, match="fp16 needs CUDA"):
        resolve_precision("fp16", cpu, flags=zen4)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert _cpu_flags(str(info)) == {"fpu", "sse", "avx2", "avx512_bf16"}
    assert _cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_trainer_resolves_precision_auto(synth, tmp_path, monkeypatch):
    import facekd.devices as devices
    from facekd.engine.trainer import Trainer

    cfg = TrainConfig.from_dict(tiny_config(*synth, runtime__precision="auto"))
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2"}))
    t = Trainer(cfg, tmp_path / "a")
    assert t.precision == "fp32" and isinstance(t.autocast(), contextlib.nullcontext)
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    t = Trainer(cfg, tmp_path / "b")
    assert t.precision == "bf16" and not isinstance(t.autocast(), contextlib.nullcontext)
    lines = []
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2"}))
    Trainer(TrainConfig.from_dict(tiny_config(*synth, runtime__precision="bf16")), tmp_path / "c", log=lines.append)
    assert any("no bf16 units" in m for m in lines)


def test_custom_task_hooks(synth, tmp_path):
    from facekd.engine.checkpoint import load_checkpoint
    from facekd.engine.trainer import GroundTruthTask, train
    from facekd.losses import heatmap_mse

    class ShiftTask(GroundTruthTask):
        """GT loss plus a term with its own trainable parameter, an extra step and state."""

        def setup(self, trainer):
            super().setup(trainer)
            self.bias = torch.nn.Parameter(torch.zeros(1))
            self.extra_calls = 0

        def extra_parameters(self):
            return [self.bias]

        def losses(self, batch, model):
            out = model(batch["image"], return_features=True)
            return {"heatmap": heatmap_mse(out["heatmaps"], batch["heatmap"], batch["weight"]),
                    "shift": (out["neck"].mean() + self.bias - 1.0).pow(2)}

        def extra_step(self, batch):
            self.extra_calls += 1
            return {"extra_calls": float(self.extra_calls)}

        def extra_state(self):
            return {"extra_calls": self.extra_calls, "bias": self.bias.detach().clone()}

        def load_extra_state(self, state):
            self.extra_calls = state.get("extra_calls", 0)

    task = ShiftTask()
    cfg = TrainConfig.from_dict(tiny_config(*synth, schedule__epochs=1, runtime__log_every=1))
    train(cfg, tmp_path, task=task)
    rows = _rows(tmp_path / "train_log.csv")
    assert {"heatmap", "shift", "loss", "extra_calls"} <= set(rows[0])
    assert float(rows[0]["loss"]) == pytest.approx(float(rows[0]["heatmap"]) + float(rows[0]["shift"]), rel=1e-5)
    assert task.extra_calls == 4 and float(task.bias.detach()) != 0.0  # the extra parameter was optimised
    st = load_checkpoint(tmp_path / "last.pt")["task"]
    assert st["extra_calls"] == 4 and float(st["bias"]) == pytest.approx(float(task.bias.detach()))


def test_train_command(synth, tmp_path, capsys):
    from facekd.cli import main

    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(tiny_config(*synth)))
    assert main(["train", "--config", str(p), "--set", "optim.lr=0.01", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["optim"]["lr"] == 0.01
    assert main(["train", "--config", str(p), "--out", str(tmp_path / "r"), "--set", "runtime.max_steps=3"]) == 0
    assert "done: best val NME" in capsys.readouterr().out
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert ck["step"] == 3 and ck["step_in_epoch"] == 3
    assert main(["train", "--config", str(p), "--set", "optim.lrate=1"]) == 2
    assert "unknown config key 'optim.lrate'" in capsys.readouterr().err
    assert main(["train"]) == 2
