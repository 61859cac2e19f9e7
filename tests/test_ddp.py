"""DDP on CPU for real: ``torchrun`` with 2 gloo processes follows the same loss trajectory as one
process with the same global batch.

BatchNorm normalises per process, so with batch statistics the two runs would legitimately differ
(2 faces per process vs 4). The comparison therefore uses ``runtime.freeze_bn=true`` (BN in eval
mode, running statistics fixed); SyncBatchNorm, the GPU answer, does not run on CPU.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_trainer import make_pts_dataset, tiny_config  # noqa: E402


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_gloo_processes_match_one_process(tmp_path):
    train = make_pts_dataset(tmp_path / "train", 16, seed=21)
    val = make_pts_dataset(tmp_path / "val", 4, seed=22)
    cfg = tiny_config(train, val, data__batch_size=4, schedule__epochs=2, runtime__freeze_bn=True,
                      runtime__log_every=1)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    args = ["-m", "facekd", "train", "--config", str(cfg_path)]

    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stdout + one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "over 2 processes" in two.stderr  # rank 0 reports the DDP setup

    a, b = _rows(tmp_path / "one" / "train_log.csv"), _rows(tmp_path / "two" / "train_log.csv")
    assert len(a) == len(b) == 8  # 16 faces / global batch 4 = 4 steps per epoch, 2 epochs
    la = np.array([float(r["loss"]) for r in a])
    lb = np.array([float(r["loss"]) for r in b])
    np.testing.assert_allclose(lb, la, rtol=1e-5)  # measured: ~5e-8 (3e-2 without freeze_bn)
    assert not np.allclose(la, la[0])  # the loss actually moved
    # only rank 0 wrote outputs; the final weights agree
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "one" / "final" / "model.safetensors")
    wb = load_file(tmp_path / "two" / "final" / "model.safetensors")
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-3, atol=1e-5)
    va, vb = _rows(tmp_path / "one" / "val_log.csv"), _rows(tmp_path / "two" / "val_log.csv")
    np.testing.assert_allclose([float(r["val_nme"]) for r in vb], [float(r["val_nme"]) for r in va], rtol=1e-3)
