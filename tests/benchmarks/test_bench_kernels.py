"""Kernel benchmarks (pytest-benchmark; no timed assertions), single-threaded.

    PYTHONPATH=python python -m pytest tests/benchmarks/test_bench_kernels.py --benchmark-enable \
        --benchmark-columns=min,median,rounds --benchmark-sort=name

Decode [1|32, 98, 64, 64] per mode vs the numpy reference and vs np.sum over the same tensor (the cost of
reading it once); crop of a 1280x720 RGB frame to a normalised 256x256 CHW tensor vs the OpenCV pipeline
(cv2.warpAffine bilinear + constant border, then (x/255 - mean)/std and a CHW transpose). Without
--benchmark-enable (the default in pyproject.toml) every function runs once, as a correctness test.
Results: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from facekd import kernels as K  # noqa: E402
from facekd.kernels import reference as R  # noqa: E402

cv2.setNumThreads(1)
if "torch" in sys.modules:  # never imported here just for this; but keep it single-threaded if present
    sys.modules["torch"].set_num_threads(1)

MODES = ("argmax", "dark", "softargmax")


@pytest.fixture(scope="module", params=[1, 32], ids=lambda n: f"{n}x98x64x64")
def heatmaps(request):
    rng = np.random.default_rng(0)
    n = request.param
    ys, xs = np.mgrid[0:64, 0:64]
    centres = rng.uniform(8, 56, (n, 98, 2))
    hm = np.exp(-((xs - centres[..., 0, None, None]) ** 2 + (ys - centres[..., 1, None, None]) ** 2) / (2 * 2.0**2))
    return (hm + 0.02 * rng.standard_normal(hm.shape)).astype(np.float32)


def test_decode_sum_baseline(benchmark, heatmaps):
    benchmark.group = f"decode {heatmaps.shape[0]}x98x64x64"
    total = benchmark(np.sum, heatmaps)
    assert np.isfinite(total)


@pytest.mark.parametrize("mode", MODES)
def test_decode_facekd(benchmark, heatmaps, mode):
    benchmark.group = f"decode {heatmaps.shape[0]}x98x64x64"
    coords, scores = benchmark(K.decode_heatmaps, heatmaps, mode, blur_sigma=2.0, beta=16.0)
    assert coords.shape == heatmaps.shape[:2] + (2,)
    np.testing.assert_array_equal(scores, heatmaps.max(axis=(2, 3)))


@pytest.mark.parametrize("mode", MODES)
def test_decode_reference(benchmark, heatmaps, mode):
    benchmark.group = f"decode {heatmaps.shape[0]}x98x64x64"
    coords, _ = benchmark.pedantic(R.decode_heatmaps, args=(heatmaps, mode), kwargs=dict(blur_sigma=2.0, beta=16.0),
                                   rounds=3 if heatmaps.shape[0] == 1 else 1, iterations=1)
    np.testing.assert_allclose(coords, K.decode_heatmaps(heatmaps, mode, blur_sigma=2.0, beta=16.0)[0], atol=1e-4)


# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:720, 0:1280]
    base = np.stack([xs * 0.15, ys * 0.3, 128 + 60 * np.sin(xs / 40.0)], axis=-1)
    img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    affine = K.box_to_affine([520, 180, 300, 340], rotation=12.0, out_size=256)
    return img, affine


MEAN = np.array(K.IMAGENET_MEAN, np.float32)
STD = np.array(K.IMAGENET_STD, np.float32)


def opencv_pipeline(img, affine):
    warped = cv2.warpAffine(img, affine.astype(np.float64), (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return np.ascontiguousarray(((warped / 255.0 - MEAN) / STD).transpose(2, 0, 1), dtype=np.float32)


def test_crop_opencv(benchmark, frame):
    benchmark.group = "crop 1280x720 RGB -> 3x256x256"
    out = benchmark(opencv_pipeline, *frame)
    assert out.shape == (3, 256, 256)


def test_crop_facekd(benchmark, frame):
    benchmark.group = "crop 1280x720 RGB -> 3x256x256"
    img, affine = frame
    buf = np.empty((3, 256, 256), np.float32)
    out = benchmark(K.crop_affine, img, affine, 256, out=buf)
    # OpenCV rounds its uint8 warp to whole levels (+-0.5 level) and quantises positions to 1/32 px.
    np.testing.assert_allclose(out, opencv_pipeline(img, affine), atol=0.5 / 255 / STD.min() + 0.01)


def test_crop_reference(benchmark, frame):
    benchmark.group = "crop 1280x720 RGB -> 3x256x256"
    img, affine = frame
    out = benchmark.pedantic(R.crop_affine, args=(img, affine, 256), rounds=3, iterations=1)
    np.testing.assert_allclose(out, K.crop_affine(img, affine, 256), atol=1e-4)
