"""The C++ end-to-end runner (csrc/runner, ExecuTorch runtime + XNNPACK) against the Python pipeline.

The runner is built with CMake into build/runner (or taken from $FACEKD_RUNNER). Images are given as
PNG so that both sides decode identical pixels (JPEG decoders differ by a grey level here and there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
VAL = SHARED / "data" / "ytf68" / "val"
INPUT = 64

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runner_exe() -> Path:
    exe = os.environ.get("FACEKD_RUNNER")
    if exe:
        assert Path(exe).is_file(), f"FACEKD_RUNNER={exe} does not exist"
        return Path(exe)
    src = REPO / "csrc" / "runner"
    if not (src / "CMakeLists.txt").is_file():
        pytest.skip("csrc/runner not present (installed package without sources)")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found")
    build = REPO / "build" / "runner"
    cfg = subprocess.run([cmake, "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                          f"-DPython3_EXECUTABLE={sys.executable}"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    built = subprocess.run([cmake, "--build", str(build), "-j2"], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    exe_path = build / "facekd_runner"
    assert exe_path.is_file(), "ExecuTorch runtime not found by CMake:\n" + cfg.stdout + cfg.stderr
    return exe_path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny student lowered to .pte with its card (embedded and as a sidecar)."""
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    from test_export import save_tiny

    from facekd.export import exported_card
    from facekd.export.executorch import lower_to_pte
    from facekd.models import load_model

    d = tmp_path_factory.mktemp("runner")
    module, card = load_model(save_tiny(d / "model"))
    example = torch.zeros(1, 3, INPUT, INPUT)
    shape = tuple(module(example).shape)
    card_d = exported_card(card, "executorch", "fp32", shape)
    program, report = lower_to_pte(module, example, json.dumps(card_d))
    assert report.fully_delegated
    pte = d / "tiny.pte"
    pte.write_bytes(program)
    (d / "tiny.json").write_text(json.dumps(card_d))
    return pte, card


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from PIL import Image

    from facekd.data import load_dataset

    ds = load_dataset(VAL)
    d = tmp_path_factory.mktemp("png")
    out = []
    for i in (0, len(ds) // 2, len(ds) - 1):
        item = ds[i]
        png = d / f"face{i}.png"
        Image.fromarray(item["image"]).save(png)
        out.append((png, item["box"]))
    return out


def run_runner(exe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def python_pipeline(png: Path, box: np.ndarray, pte: Path, card):
    from facekd import kernels
    from facekd.data.base import load_image
    from facekd.export.executorch import PteModel

    crop, affine = kernels.crop_box(load_image(png), box, card.input_size, scale=card.crop_scale,
                                    mean=card.mean, std=card.std)
    heatmaps = PteModel(pte)(torch.from_numpy(np.ascontiguousarray(crop))[None])
    points, scores = card.get_codec().decode(heatmaps, np.asarray(affine)[None])
    return points[0], scores[0], np.asarray(affine).reshape(-1)


def test_runner_matches_python_pipeline(runner_exe, exported, faces):
    pte, card = exported
    for png, box in faces:
        box_arg = ",".join(f"{v:.9g}" for v in box)
        res = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", box_arg)
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)  # stdout is exactly one JSON document
        pts, scores, affine = python_pipeline(png, np.asarray(box, dtype=np.float32), pte, card)
        got = np.asarray(out["landmarks"], dtype=np.float64)
        assert got.shape == (card.num_keypoints, 2) and out["num_keypoints"] == card.num_keypoints
        np.testing.assert_allclose(np.asarray(out["crop_to_image"]), affine, atol=1e-6)
        assert np.abs(got - pts).max() <= 0.01, np.abs(got - pts).max()
        np.testing.assert_allclose(np.asarray(out["scores"]), scores, rtol=1e-5, atol=1e-6)
        assert out["heatmap_size"] == [card.codec["heatmap_size"]] * 2


def test_runner_sidecar_card_gives_the_same_result(runner_exe, exported, faces):
    pte, _ = exported
    png, box = faces[0]
    box_arg = ",".join(f"{v:.9g}" for v in box)
    a = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", box_arg)
    b = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", box_arg,
                   "--card", str(pte.with_suffix(".json")), "--repeat", "3", "--threads", "1")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["landmarks"] == jb["landmarks"]
    assert jb["latency_ms"]["model_runs"] == 3 and jb["latency_ms"]["model_median"] > 0


def test_runner_reports_bad_input(runner_exe, exported, faces, tmp_path):
    pte, _ = exported
    png, _ = faces[0]
    res = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", "100000,5,10,10")
    assert res.returncode == 2 and "does not overlap" in res.stderr and res.stdout == ""
    res = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", "1,2,3")
    assert res.returncode == 2 and "--box: expected 4" in res.stderr
    res = run_runner(runner_exe, "--model", str(pte), "--image", str(tmp_path / "none.png"), "--box", "1,2,3,4")
    assert res.returncode == 2 and "cannot decode" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input_size": 64}))
    res = run_runner(runner_exe, "--model", str(pte), "--image", str(png), "--box", "1,2,30,40", "--card", str(bad))
    assert res.returncode == 2 and "missing field 'num_keypoints'" in res.stderr
