"""Face-detector time on one 640 x 480 photo, one thread: YuNet-n / YuNet-s eager, YuNet-n through
YuNet-n / YuNet-s through ExecuTorch (XNNPACK, fully delegated), and the old Haar cascade as the baseline of the same run.

    pytest tests/benchmarks/test_bench_detector.py --benchmark-enable

The ratio to the Haar cascade is the number to compare across machines (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PHOTO = SHARED / "data" / "afw_photos" / "1051618982.jpg"


@pytest.fixture(scope="module")
def photo():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    import cv2
    import torch

    from facekd.data.base import load_image

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    return cv2.resize(load_image(PHOTO), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name", ["yunet_n", "yunet_s", "haar_frontalface"])
def test_bench_detector_eager(benchmark, photo, name):
    from facekd.detectors import load_detector

    det = load_detector(name)
    det.detect(photo)
    d = benchmark(det.detect, photo)
    assert len(d) >= 1


@pytest.mark.parametrize("name", ["yunet_n", "yunet_s"])
def test_bench_yunet_executorch(benchmark, photo, name):
    """The whole detector (resize, fully delegated XNNPACK program, decode, threshold, NMS)."""
    if not benchmark.enabled:
        pytest.skip("lowering takes minutes: only with --benchmark-enable")
    from facekd.detectors import YuNetDetector
    from facekd.export.executorch import PteModel, set_num_threads

    det = YuNetDetector(name)
    data, report = det.export_pte(480, 640)
    assert report.fully_delegated, report.summary()
    set_num_threads(1)
    pte = YuNetDetector(name, runner=PteModel(data))
    pte.detect(photo)
    d = benchmark(pte.detect, photo)
    assert len(d) >= 1
    ref = det.detect(photo)
    np.testing.assert_allclose(np.sort(d.scores), np.sort(ref.scores), atol=1e-3)
