"""ExecuTorch `.pte` models with any thread count: 1, 2, the default (the process's CPU affinity)
and a process pinned to one CPU with ``taskset``. ExecuTorch's thread pool is process-wide and a
wrong resize crashes or hangs the whole process, so every case runs in a fresh subprocess with a
timeout (a hang fails the test instead of blocking the suite)."""

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

import facekd
from PIL import Image

pytest.importorskip("executorch")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = str(Path(facekd.__file__).resolve().parents[1])
INPUT = 64
BOX = "40,40,80,80"
TIMEOUT = 240  # a fresh interpreter imports torch + executorch: seconds; a hang is forever


def _tiny_pte(path: Path, seed: int) -> Path:
    """A 2-stage slim HRNet at 64 px lowered to a facekd `.pte` (embedded card, no parity
    check: these tests are about the runtime, not the numbers)."""
    from facekd.codecs import HeatmapCodec
    from facekd.export.api import exported_card
    from facekd.export.executorch import lower_to_pte
    from facekd.models import card_for, create_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68")
    torch.manual_seed(seed)
    m = create_model("hrnet_slim_w8", scheme.num_points, num_stages=2, stage_modules=(1,),
                     stage_blocks=(1,)).eval()
    example = torch.zeros(1, 3, INPUT, INPUT)
    with torch.no_grad():
        out_shape = tuple(m(example).shape)
    card = card_for(m, scheme=scheme, input_size=INPUT,
                    codec=HeatmapCodec(INPUT, out_shape[-1], 1.5, "dark"), training_data="untrained (test)")
    program, report = lower_to_pte(m, example, json.dumps(exported_card(card, "executorch", "fp32", out_shape)))
    assert report.fully_delegated, report.summary()  # the XNNPACK pool is what is under test
    path.write_bytes(program)
    return path


@pytest.fixture(scope="module")
def ptes(tmp_path_factory):
    d = tmp_path_factory.mktemp("pte_threads")
    return _tiny_pte(d / "a.pte", 0), _tiny_pte(d / "b.pte", 1)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    rng = np.random.default_rng(0)
    p = tmp_path_factory.mktemp("pte_img") / "face.png"
    Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(p)
    return p


def _env() -> dict:
    env = dict(os.environ)
    # the facekd this test imported (the source tree or the installed package), not a guess
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args: list[str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cmd = [*prefix, sys.executable, *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung (> {TIMEOUT} s): {' '.join(cmd)}")
    assert res.returncode == 0, f"exit {res.returncode} (negative: killed by signal)\n{res.stderr[-3000:]}"
    return res


# One script for the API cases: runs the model several times, prints the pool size and a digest.
API_SCRIPT = """
import sys, numpy as np
from executorch.extension.pybindings import portable_lib
from facekd.api import Landmarker, read_image
threads = None if sys.argv[3] == "none" else int(sys.argv[3])
lm = Landmarker(sys.argv[1], threads=threads)
img = read_image(sys.argv[2])
first = lm.detect(img, boxes=[[40, 40, 80, 80]])[0].landmarks
for _ in range(10):
    assert np.array_equal(lm.detect(img, boxes=[[40, 40, 80, 80]])[0].landmarks, first)
print("pool", portable_lib._threadpool_get_thread_count(), "points", first.shape[0], "finite", bool(np.isfinite(first).all()))
"""


def _api(pte, image, threads, prefix=()) -> str:
    return _run(["-c", API_SCRIPT, str(pte), str(image), str(threads).lower()], prefix).stdout


def test_api_runs_pte_with_one_thread(ptes, image):
    assert "pool 1 points 68 finite True" in _api(ptes[0], image, 1)


def test_api_default_threads_is_the_cpu_affinity(ptes, image):
    out = _api(ptes[0], image, None)
    assert f"pool {len(os.sched_getaffinity(0))} points 68" in out


def test_cli_detect_pte_with_one_thread(ptes, image, tmp_path):
    out = tmp_path / "out.json"
    res = _run(["-m", "facekd", "detect", str(image), "--model", str(ptes[0]), "--threads", "1",
                "--box", BOX, "--json"])
    out.write_text(res.stdout)
    assert len(json.loads(out.read_text())["faces"][0]["landmarks"]) == 68


def _taskset() -> str:
    exe = shutil.which("taskset")
    if exe is None:
        pytest.skip("taskset (util-linux) not found: cannot pin the process to one CPU")
    return exe


def test_pinned_process_runs_pte(ptes, image):
    """`taskset -c 0`: one CPU allowed while the machine has more; the default pool follows the
    affinity (ExecuTorch's own default counts the machine's cores)."""
    ts = _taskset()
    assert "pool 1 points 68 finite True" in _api(ptes[0], image, None, prefix=(ts, "-c", "0"))
    res = _run(["-m", "facekd", "detect", str(image), "--model", str(ptes[0]), "--box", BOX, "--json"],
               prefix=(ts, "-c", "0"))
    assert len(json.loads(res.stdout)["faces"]) == 1


def test_resizing_the_pool_keeps_loaded_models_valid(ptes):
    """Two threads, then one: the pool is process-wide, so a second model with another thread
    count resizes it under the first, which must still run (it is reloaded) and give the same
    outputs as before."""
    script = """
import sys, gc, torch
from executorch.extension.pybindings import portable_lib
from facekd.export.executorch import PteModel, set_num_threads
x = torch.linspace(-1, 1, 3 * 64 * 64).reshape(1, 3, 64, 64)
set_num_threads(2)
a = PteModel(sys.argv[1])
ya = a(x).clone()
set_num_threads(1)
b = PteModel(sys.argv[2])
yb = b(x).clone()
for n in (2, 1, 2, 1):
    set_num_threads(n)
    for _ in range(5):
        assert torch.equal(a(x), ya) and torch.equal(b(x), yb)
del a, b
gc.collect()
print("ok", portable_lib._threadpool_get_thread_count())
"""
    assert "ok 1" in _run(["-c", script, str(ptes[0]), str(ptes[1])]).stdout


def test_thread_count_is_validated():
    from facekd.errors import FacekdError
    from facekd.export.executorch import set_num_threads

    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(FacekdError, match="threads"):
            set_num_threads(bad)
