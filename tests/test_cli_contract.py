"""The command-line contract: every sub-command given bad arguments exits non-zero with ONE line
on stderr that names the problem, and never prints a traceback (argparse's usage block is one
``--help`` away, not part of the error). Each case runs in a fresh ``python -m facekd``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import facekd

from facekd.cli import COMMANDS

PACKAGE_ROOT = str(Path(facekd.__file__).resolve().parents[1])
NOPE = "/nonexistent-facekd-path"

# (argv, a word the error line must contain)
CASES = [
    (["nosuchcommand"], "invalid choice"),
    (["detect", f"{NOPE}.jpg"], "not found"),
    (["detect", "a.jpg", "--no-such-flag"], "unrecognized arguments"),
    (["detect", "a.jpg", "--threads", "x"], "invalid int value"),
    (["demo", "-o", "out.txt"], ".png"),
    (["video", f"{NOPE}.mp4"], "not found"),
    (["video", f"{NOPE}.mp4", "--max-frames", "0"], "not found"),
    (["eval", "--model", "default", "--data", NOPE], "not found"),
    (["eval", "--data", NOPE], "--model"),
    (["train", "--config", f"{NOPE}.yaml"], "not found"),
    (["distill", "--config", f"{NOPE}.yaml"], "not found"),
    (["ablate", "--config", f"{NOPE}.yaml"], "not found"),
    (["ablate"], "--config"),
    (["sweep", "--config", f"{NOPE}.yaml", "--widths", "abc"], "--widths"),
    (["models", "--names", "nosuchmodel", "--no-latency"], "nosuchmodel"),
    (["models", "--input-size", "0", "--no-latency"], "--input-size"),
    (["export", "--model", NOPE, "--to", "onnx", "--parity-data", NOPE], NOPE),
    (["export", "--model", NOPE, "--to", "tflite"], "invalid choice"),
    (["robust", "--model", "default", "--data", NOPE, "--out", "out"], NOPE),
    (["robust", "--model", "default"], "required"),
    (["bench", "nosuch"], "invalid choice"),
    (["teach", "--config", f"{NOPE}.yaml", "--out", "cache"], NOPE),
    (["teach", "--out", "cache"], "required"),
    (["bench", "detector", "--photos", NOPE], NOPE),
    (["curves", "--run", f"a={NOPE}", "--out", "c.png"], "no val_log.csv"),
    (["curves", "--run", "a", "--out", "c.png"], "NAME=PATH"),
]
if not torch.cuda.is_available():
    CASES.append((["demo", "-o", "d.png", "--device", "cuda"], "'cuda'"))


def test_every_command_has_a_case():
    covered = {argv[0] for argv, _ in CASES}
    assert {name for name, _, _ in COMMANDS} <= covered


@pytest.mark.parametrize("argv, word", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_arguments_give_one_line_and_a_nonzero_exit(argv, word, tmp_path):
    env = dict(os.environ)
    # the facekd this test imported (the source tree or the installed package), not a guess
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    res = subprocess.run([sys.executable, "-m", "facekd", *argv], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    err = res.stderr
    assert res.returncode != 0, f"exit 0 for bad arguments: {argv}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("facekd") and "error:" in lines[0], lines[0]
    assert word in lines[0], lines[0]
    assert not list(tmp_path.iterdir()), "a failed command left files behind"
