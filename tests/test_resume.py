"""Exact resumption: a run SIGKILLed mid-epoch and resumed ends with the same weights as an
uninterrupted run (separate processes, as a crash would be)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_trainer import make_pts_dataset, tiny_config  # noqa: E402

STEPS_PER_EPOCH = 12


def _train(cfg_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facekd", "train", "--config", str(cfg_path), "--out", str(out),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(p: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out
    return out


def _ckpt(path: Path) -> dict | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not written yet
        return None


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path):
    train = make_pts_dataset(tmp_path / "train", 2 * STEPS_PER_EPOCH, seed=11)
    val = make_pts_dataset(tmp_path / "val", 4, seed=12)
    cfg = tiny_config(train, val, data__batch_size=2, schedule__epochs=2, runtime__ckpt_every=1,
                      runtime__log_every=1, optim__grad_clip=1.0)
    cfg["augment"].update(occlusion_p=0.5, blur_p=0.3)  # every random draw must replay exactly
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))

    _finish(_train(cfg_path, tmp_path / "full"))

    p = _train(cfg_path, tmp_path / "killed")
    ck_path = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 120
    killed_at = None
    while time.time() < deadline and p.poll() is None:
        ck = _ckpt(ck_path) if ck_path.is_file() else None
        if ck is not None and 2 <= ck["step_in_epoch"] <= STEPS_PER_EPOCH // 2:
            os.kill(p.pid, signal.SIGKILL)
            killed_at = ck["step"]
            break
        time.sleep(0.005)
    p.communicate(timeout=30)
    assert killed_at is not None and p.returncode == -signal.SIGKILL, "the run was not killed mid-epoch"
    ck = _ckpt(ck_path)
    assert 0 < ck["step_in_epoch"] < STEPS_PER_EPOCH and ck["step"] < 2 * STEPS_PER_EPOCH
    assert not (tmp_path / "killed" / "final").exists()

    out = _finish(_train(cfg_path, tmp_path / "killed", "--resume"))
    assert f"step {ck['step']} ({ck['step_in_epoch']}/{STEPS_PER_EPOCH} in the epoch)" in out

    from safetensors.torch import load_file

    a = load_file(tmp_path / "full" / "final" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    ca, cb = _ckpt(tmp_path / "full" / "last.pt"), _ckpt(tmp_path / "killed" / "last.pt")
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    assert ca["best"] == cb["best"] and ca["step"] == cb["step"] == 2 * STEPS_PER_EPOCH
    # the logs line up too: one row per step, identical losses
    ra, rb = _rows(tmp_path / "full" / "train_log.csv"), _rows(tmp_path / "killed" / "train_log.csv")
    assert [r["step"] for r in rb] == [str(s) for s in range(1, 2 * STEPS_PER_EPOCH + 1)]
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]


def test_resume_without_config_uses_the_checkpoint(tmp_path, capsys):
    from facekd.cli import main

    train = make_pts_dataset(tmp_path / "train", 8, seed=5)
    cfg = tiny_config(train, None, schedule__epochs=1, runtime__max_steps=1)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(cfg_path), "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--out", str(tmp_path / "r"), "--resume", "--set", "runtime.max_steps=2"]) == 0
    assert _ckpt(tmp_path / "r" / "last.pt")["step"] == 2
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "--resume without --config needs" in capsys.readouterr().err
