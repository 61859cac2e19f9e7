"""`facekd distill` end to end on a handful of real faces: teachers load, terms are logged, resume works."""

import csv
from pathlib import Path

import pytest

from facekd.cli import main

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (SHARED / "data" / "ytf68").is_dir(), reason="../shared not found")


def _teacher(tmp_path: Path, name: str, model: str) -> Path:
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, create_model, save_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68")
    m = create_model(model, scheme.num_points)
    out = tmp_path / name
    save_model(out, m, card_for(m, scheme=scheme, input_size=64, codec=HeatmapCodec(64, 16, 1.0)))
    return out


def _args(tmp_path, out, *extra):
    data = SHARED / "data" / "ytf68"
    return ["distill", "--config", str(REPO / "configs" / "tiny_ci.yaml"), "--out", str(out),
            "--set", f"data.train={data / 'train'}", "--set", f"data.val={data / 'val'}",
            "--set", "runtime.progress=false", "--set", "distill.lambda_cd=3.0", *extra]


def test_distill_cli_runs_logs_terms_and_resumes(tmp_path):
    t1 = _teacher(tmp_path, "t1", "hrnet_slim_w8")
    t2 = _teacher(tmp_path, "t2", "hrnet_slim_w10_d1")
    out = tmp_path / "run"
    args = _args(tmp_path, out, "--teacher", f"w8={t1}", "--teacher", f"w10={t2}", "--set", "runtime.max_steps=3",
                 "--set", "runtime.log_every=1", "--set", "distill.akd_warmup_steps=1")
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert {"kd", "cd", "a_w8", "a_w10", "d_w8", "d_w10"} <= set(rows[0])
    assert float(rows[0]["a_w8"]) == 0 and float(rows[-1]["a_w8"]) > 0  # warm-up, then the adversarial term
    assert (out / "best" / "model.safetensors").is_file() and (out / "last.pt").is_file()
    # resume continues the same run (the Distiller's adapters/discriminators come back from the checkpoint)
    assert main(_args(tmp_path, out, "--teacher", f"w8={t1}", "--teacher", f"w10={t2}", "--resume",
                      "--set", "runtime.max_steps=5", "--set", "runtime.log_every=1",
                      "--set", "distill.akd_warmup_steps=1")) == 0
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "train_log.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 5


def test_distill_cli_missing_teacher_is_a_clear_error(tmp_path, capsys):
    assert main(_args(tmp_path, tmp_path / "run")) == 2
    assert "needs teachers" in capsys.readouterr().err


def test_distill_cli_teacher_resolution_mismatch(tmp_path, capsys):
    t = _teacher(tmp_path, "t1", "hrnet_slim_w8")
    args = _args(tmp_path, tmp_path / "run", "--teacher1", str(t), "--teacher2", str(t),
                 "--set", "data.input_size=96")
    assert main(args) == 2
    assert "64 px" in capsys.readouterr().err
