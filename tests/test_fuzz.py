"""The fuzz harness of fuzz/ (run in-process on the regular build, no atheris needed): random
inputs pass, stored regression inputs pass, and a broken kernel is caught by its property checks."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path

import numpy as np
import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
if not (FUZZ / "fuzz_bindings.py").is_file():
    pytest.skip("fuzz/ not found beside the tests", allow_module_level=True)


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("facekd_fuzz_bindings", FUZZ / "fuzz_bindings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _inputs(seed: int, n: int, max_len: int = 2048):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield rng.integers(0, 256, size=int(rng.integers(0, max_len)), dtype=np.uint8).tobytes()


def test_random_inputs_raise_only_documented_errors(harness):
    with np.errstate(all="ignore"):
        for data in _inputs(2024, 1500):
            harness.one_input(data)


def test_stored_corpus_inputs_pass(harness):
    """Replay the minimised seed corpus of the long atheris runs (regressions included)."""
    import tarfile

    archive = FUZZ / "corpus" / "bindings.tar.gz"
    if not archive.is_file():
        pytest.skip("fuzz/corpus/bindings.tar.gz not found")
    n = 0
    with tarfile.open(archive) as tar, np.errstate(all="ignore"):
        for member in tar:
            if member.isfile():
                harness.one_input(tar.extractfile(member).read())
                n += 1
    assert n > 100, n


def test_property_checks_catch_a_wrong_kernel(harness):
    """A decode that returns a wrong score, or a smoother that forgets a refused frame is not
    allowed to change state, must be reported (AssertionError), not pass."""
    from facekd import _core
    from facekd import kernels as K

    class WrongScores:
        def __getattr__(self, name):
            return getattr(K, name)

        @staticmethod
        def decode_heatmaps(hm, mode="argmax", **kw):
            coords, scores = K.decode_heatmaps(hm, mode, **kw)
            return coords, scores + 1e-3

    caught = 0
    with np.errstate(all="ignore"):
        for data in _inputs(7, 400, 512):
            try:
                harness.fuzz_decode(harness.Reader(data), WrongScores(), _core)
            except AssertionError as e:
                assert "score" in str(e)
                caught += 1
    assert caught > 10, caught

    class LeakySmoother(K.OneEuroSmoother):
        """Forgets its state when it refuses a frame (the bug the twin check exists for)."""

        def apply(self, values, timestamp):
            try:
                return super().apply(values, timestamp)
            except ValueError:
                self.reset()
                raise

    class Leaky:
        def __getattr__(self, name):
            return getattr(K, name)

        OneEuroSmoother = LeakySmoother

    twin, other = 0, 0
    with np.errstate(all="ignore"):
        for data in _inputs(8, 400, 512):
            try:
                harness.fuzz_smoother(harness.Reader(data), Leaky(), _core)
            except AssertionError as e:  # a forgotten state also lets a stale timestamp through
                assert "refused frame changed the smoother state" in str(e) or "accepted timestamp" in str(e)
                twin += "refused frame" in str(e)
                other += "refused frame" not in str(e)
    assert twin > 3, (twin, other)


def test_reader_is_total(harness):
    r = harness.Reader(b"\x01\x02")
    assert r.u8() == 1 and r.u32() == (2 << 24) and r.empty()
    assert r.take(3) == b"\x00\x00\x00" and r.range(4, 9) == 4 and r.value(0, 1) == 0.0
    assert r.floats(5, 0, 1).shape == (5,)


def test_smoke_script_is_executable():
    script = FUZZ.parent / ".ci" / "fuzz_smoke.sh"
    if not script.is_file():
        pytest.skip(".ci/fuzz_smoke.sh not found")
    assert script.stat().st_mode & stat.S_IXUSR
    text = script.read_text()
    assert "set -euo pipefail" in text and "fuzz_c_api" in text and "fuzz_bindings.py" in text
    assert os.path.basename(str(FUZZ / "CMakeLists.txt")) in os.listdir(FUZZ)
