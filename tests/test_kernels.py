"""facekd.kernels (the C library through facekd._core) against the numpy reference: heatmap decoding,
geometry, the One-Euro smoother, bad input and the version."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import facekd
from facekd import kernels as K
from facekd.kernels import reference as R

FAST = settings(max_examples=40, deadline=None)


def finite_f32(lo=-10.0, hi=10.0):
    return st.floats(lo, hi, width=32, allow_nan=False, allow_infinity=False)


def gaussian(h, w, cx, cy, sigma):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# decode

@FAST
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 20), st.integers(1, 20), st.data())
def test_decode_matches_reference(n, k, h, w, data):
    # Integer-valued maps make ties likely; continuous maps exercise the sub-pixel paths.
    elements = data.draw(st.sampled_from([st.integers(-3, 3).map(float), finite_f32()]))
    hm = data.draw(hnp.arrays(np.float32, (n, k, h, w), elements=elements))
    for mode, kw in (("argmax", {}), ("softargmax", {"beta": data.draw(st.floats(0.1, 8.0))})):
        got, want = K.decode_heatmaps(hm, mode, **kw), R.decode_heatmaps(hm, mode, **kw)
        np.testing.assert_allclose(got[0], want[0], atol=1e-4, err_msg=mode)
        np.testing.assert_array_equal(got[1], want[1])
    hm_c = data.draw(hnp.arrays(np.float32, (n, k, h, w), elements=finite_f32(0.0, 1.0)))
    sigma = data.draw(st.floats(0.5, 3.0))
    got, want = K.decode_heatmaps(hm_c, "dark", blur_sigma=sigma), R.decode_heatmaps(hm_c, "dark", blur_sigma=sigma)
    np.testing.assert_allclose(got[0], want[0], atol=1e-4)


@FAST
@given(st.floats(16.0, 48.0), st.floats(16.0, 48.0), st.floats(1.0, 3.0))
def test_dark_recovers_subpixel_gaussian(cx, cy, sigma):
    # Centres >= 16 px away from the 64x64 border (DARK itself is fine closer; kept alike for both decoders).
    hm = gaussian(64, 64, cx, cy, sigma)
    coords, _ = K.decode_heatmaps(hm[None], "dark", blur_sigma=sigma)
    x, y = coords[0]
    assert abs(x - cx) < 0.05 and abs(y - cy) < 0.05


@FAST
@given(st.floats(16.0, 48.0), st.floats(16.0, 48.0), st.floats(1.0, 3.0))
def test_softargmax_recovers_gaussian_logits(cx, cy, sigma):
    # Soft-argmax reads the map as logits: a Gaussian rendered in the log domain, beta = 1, is exact up
    # to the truncation at the border (negligible >= 16 px = 5 sigma away).
    logits = np.log(np.maximum(gaussian(64, 64, cx, cy, sigma), 1e-30))
    coords, _ = K.decode_heatmaps(logits[None], "softargmax", beta=1.0)
    x, y = coords[0]
    assert abs(x - cx) < 0.05 and abs(y - cy) < 0.05


@FAST
@given(st.floats(16.0, 48.0), st.floats(16.0, 48.0), st.floats(2.0, 3.0))
def test_softargmax_recovers_plain_gaussian_with_beta_16(cx, cy, sigma):
    # A plain Gaussian (peak 1, background 0): beta = 16 makes the peak outweigh the 4096-pixel
    # background; the sharpened peak (effective sigma / 4) is still sampled well for sigma >= 2.
    # (For sigma = 1 no beta gets below ~0.26 px: see facekd.kernels.decode_heatmaps.)
    coords, _ = K.decode_heatmaps(gaussian(64, 64, cx, cy, sigma)[None], "softargmax", beta=16.0)
    x, y = coords[0]
    assert abs(x - cx) < 0.05 and abs(y - cy) < 0.05


def test_decode_edge_cases():
    # ties -> first in row-major order; equal neighbours -> no quarter shift; border -> no shift on that axis
    hm = np.zeros((1, 3, 4, 5), np.float32)
    hm[0, 0, 1, 3] = hm[0, 0, 2, 1] = 1.0
    hm[0, 1] = 0.7
    hm[0, 2, 0, 4], hm[0, 2, 0, 3], hm[0, 2, 1, 4] = 2.0, 1.0, 1.5
    coords, scores = K.decode_heatmaps(hm)
    np.testing.assert_array_equal(coords[0], [[3.0, 1.0], [0.0, 0.0], [4.0, 0.0]])
    np.testing.assert_array_equal(scores[0], np.float32([1.0, 0.7, 2.0]))
    # 3-D input: no N axis in the outputs; H = W = 1
    coords, scores = K.decode_heatmaps(np.full((2, 1, 1), 3.0, np.float32), "dark")
    assert coords.shape == (2, 2) and scores.shape == (2,)
    np.testing.assert_array_equal(coords, 0.0)
    # uniform map: soft-argmax gives the centre
    coords, _ = K.decode_heatmaps(np.zeros((1, 1, 5, 8), np.float32), "softargmax")
    np.testing.assert_allclose(coords[0, 0], [3.5, 2.0], atol=1e-6)
    # non-contiguous input is accepted (copied)
    big = np.random.default_rng(0).random((1, 2, 8, 16), dtype=np.float32)
    np.testing.assert_array_equal(K.decode_heatmaps(big[..., ::2])[0], R.decode_heatmaps(big[..., ::2])[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("mode", ["argmax", "dark", "softargmax"])
def test_decode_rejects_non_finite(bad, mode):
    hm = np.zeros((2, 3, 8, 70), np.float32)
    hm[1, 2, 7, 69] = bad
    with pytest.raises(ValueError, match=r"heatmaps\[1, 2\]"):
        K.decode_heatmaps(hm, mode)


# ------------------------------------------------------------------------------------------------
# geometry

affines = hnp.arrays(np.float32, (2, 3), elements=finite_f32(-5, 5)).filter(
    lambda a: abs(float(a[0, 0]) * a[1, 1] - float(a[0, 1]) * a[1, 0]) > 1e-2)


@FAST
@given(affines, hnp.arrays(np.float32, st.tuples(st.integers(0, 6), st.just(2)), elements=finite_f32(-300, 300)))
def test_geometry_matches_reference(A, pts):
    np.testing.assert_allclose(K.affine_invert(A), R.affine_invert(A), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(K.points_transform(pts, A), R.points_transform(pts, A), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(K.heatmap_to_image(pts, (64, 48), (256, 192), A),
                               R.heatmap_to_image(pts, (64, 48), (256, 192), A), rtol=1e-5, atol=1e-3)
    if len(pts):
        box, roll = K.box_from_landmarks(pts, 0, len(pts) - 1)
        rbox, rroll = R.box_from_landmarks(pts, 0, len(pts) - 1)
        np.testing.assert_allclose(box, rbox, rtol=1e-6, atol=1e-4)
        assert roll == pytest.approx(rroll, abs=1e-4)


@FAST
@given(hnp.arrays(np.float32, 4, elements=finite_f32(-100, 400)).filter(lambda b: b[2] > 0.5 and b[3] > 0.5),
       st.floats(0.5, 2.0), st.floats(-180, 180), st.booleans(), st.integers(1, 300))
def test_box_to_affine_matches_reference(box, scale, rotation, flip, size):
    got = K.box_to_affine(box, scale=scale, rotation=rotation, flip=flip, out_size=size)
    want = R.box_to_affine(box, scale=scale, rotation=rotation, flip=flip, out_size=size)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # the crop centre maps to the box centre
    m = (size - 1) / 2
    centre = K.points_transform(np.array([[m, m]]), got)[0]
    np.testing.assert_allclose(centre, [box[0] + box[2] / 2, box[1] + box[3] / 2], atol=1e-3)


def test_geometry_shapes_and_batches():
    A = K.box_to_affine([10, 20, 30, 40], out_size=64)
    pts = np.random.default_rng(1).random((2, 5, 2)).astype(np.float32) * 16
    assert K.points_transform(pts, A).shape == (2, 5, 2)
    batched = K.heatmap_to_image(pts, (16, 16), (64, 64), np.stack([A, K.affine_invert(A)]))
    np.testing.assert_allclose(batched[0], R.heatmap_to_image(pts[0], (16, 16), (64, 64), A), atol=1e-4)
    np.testing.assert_allclose(batched[1], R.heatmap_to_image(pts[1], (16, 16), (64, 64), K.affine_invert(A)),
                               atol=1e-4)
    np.testing.assert_allclose(K.heatmap_to_image(pts, (16, 16), (64, 64), A)[1],
                               R.heatmap_to_image(pts[1], (16, 16), (64, 64), A), atol=1e-4)
    box, roll = K.box_from_landmarks([[0, 0], [10, 10], [4, -2]], 0, 1)
    np.testing.assert_array_equal(box, [0, -2, 10, 12])
    assert roll == pytest.approx(45.0)
    assert K.box_from_landmarks([[1, 2]])[1] == 0.0


# ------------------------------------------------------------------------------------------------
# smoother

@FAST
@given(st.integers(1, 8), st.floats(0.05, 5.0), st.floats(0.0, 2.0), st.floats(0.05, 5.0), st.data())
def test_smoother_matches_reference(n, min_cutoff, beta, d_cutoff, data):
    frames = data.draw(st.integers(1, 25))
    values = data.draw(hnp.arrays(np.float32, (frames, n), elements=finite_f32(-500, 500)))
    dts = data.draw(hnp.arrays(np.float64, frames, elements=st.floats(1e-3, 0.5)))
    fast = K.OneEuroSmoother(n, min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
    ref = R.OneEuroSmoother(n, min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
    for v, t in zip(values, np.cumsum(dts)):
        np.testing.assert_allclose(fast.apply(v, t), ref.apply(v, t), rtol=1e-5, atol=1e-4)


def test_smoother_shape_reset_and_errors():
    s = K.OneEuroSmoother(6)
    pts = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(s.apply(pts, 0.0), pts)  # first frame passes through, shape kept
    moved = s.apply(pts + 10, 0.1)
    assert moved.shape == (3, 2) and np.all(moved > pts) and np.all(moved < pts + 10)
    with pytest.raises(ValueError, match="strictly increasing"):
        s.apply(pts, 0.1)
    with pytest.raises(ValueError, match=r"values\[1\]"):
        s.apply([0, np.nan, 0, 0, 0, 0], 0.2)
    with pytest.raises(ValueError, match="n_values = 6"):
        s.apply(np.zeros(4), 0.3)
    s.reset()
    np.testing.assert_array_equal(s.apply(pts + 10, 0.05), pts + 10)  # earlier time OK after reset
    with pytest.raises(ValueError, match="min_cutoff"):
        K.OneEuroSmoother(4, min_cutoff=0.0)
    with pytest.raises(ValueError, match="n_values"):
        K.OneEuroSmoother(0)


# ------------------------------------------------------------------------------------------------
# bad input through Python: TypeError / ValueError naming the argument, never a crash

IMG = np.zeros((8, 10, 3), np.uint8)
A0 = np.array([[1, 0, 0], [0, 1, 0]], np.float32)

BAD_INPUT = [
    (lambda: K.decode_heatmaps(np.zeros((1, 1, 4, 4))), TypeError, "heatmaps must be float32"),
    (lambda: K.decode_heatmaps(np.zeros((4, 4), np.float32)), ValueError, "heatmaps must have shape"),
    (lambda: K.decode_heatmaps(np.zeros((1, 0, 4, 4), np.float32)), ValueError, "heatmaps must not be empty"),
    (lambda: K.decode_heatmaps(np.zeros((1, 1, 4, 4), np.float32), "median"), ValueError, "mode"),
    (lambda: K.decode_heatmaps(np.zeros((1, 1, 4, 4), np.float32), "dark", blur_sigma=0), ValueError, "blur_sigma"),
    (lambda: K.decode_heatmaps(np.zeros((1, 1, 4, 4), np.float32), "softargmax", beta=-1), ValueError, "beta"),
    (lambda: K.decode_heatmaps(np.zeros((1, 1, 4, 4), np.float32), beta="x"), TypeError, "beta"),
    (lambda: K.crop_affine(IMG.astype(np.float32), A0, 4), TypeError, "image must be a uint8"),
    (lambda: K.crop_affine(IMG.tolist(), A0, 4), TypeError, "image must be a numpy"),
    (lambda: K.crop_affine(IMG, A0, 4, pixel_format="RGBA"), ValueError, r"image must have shape \[H, W, 4\]"),
    (lambda: K.crop_affine(IMG[:, :, 0], A0, 4), ValueError, "image must have shape"),
    (lambda: K.crop_affine(IMG[:, ::2], A0, 4), ValueError, "image: the pixels of a row must be contiguous"),
    (lambda: K.crop_affine(IMG[::-1], A0, 4), ValueError, "image: rows must be stored top to bottom"),
    (lambda: K.crop_affine(IMG[:0], A0, 4), ValueError, "image must not be empty"),
    (lambda: K.crop_affine(IMG, A0, 4, pixel_format="YUYV"), ValueError, "pixel_format must be one of"),
    (lambda: K.crop_affine(IMG, A0, 4, pixel_format=3), TypeError, "pixel_format"),
    (lambda: K.crop_affine(IMG, A0, 0), ValueError, "out_size"),
    (lambda: K.crop_affine(IMG, A0, 4, out_channels=2), ValueError, "out_channels"),
    (lambda: K.crop_affine(IMG, A0[:1], 4), ValueError, r"affine must have shape \[2, 3\]"),
    (lambda: K.crop_affine(IMG, np.full((2, 3), np.nan), 4), ValueError, "crop_to_image"),
    (lambda: K.crop_affine(IMG, A0, 4, mean=(0.5, 0.5)), ValueError, "mean must hold"),
    (lambda: K.crop_affine(IMG, A0, 4, std=(0.5, 0.0, 0.5)), ValueError, r"std\[1\]"),
    (lambda: K.crop_affine(IMG, A0, 4, std=(0.5, np.nan, 0.5)), ValueError, "std must be finite"),
    (lambda: K.crop_affine(IMG, A0, 4, border_value=-1), ValueError, "border_value"),
    (lambda: K.crop_affine(IMG, A0, 4, uv=np.zeros((4, 10), np.uint8)), ValueError, "uv is only used"),
    (lambda: K.crop_affine(IMG, A0, 4, out=np.zeros((3, 4, 4))), TypeError, "out must be a float32"),
    (lambda: K.crop_affine(IMG, A0, 4, out=np.zeros((3, 5, 4), np.float32)), ValueError, r"out must have shape"),
    (lambda: K.crop_affine(IMG, A0, 4, out=np.zeros((3, 4, 8), np.float32)[:, :, ::2]), ValueError,
     "out must be C-contiguous"),
    (lambda: K.crop_affine(np.zeros((7, 10), np.uint8), A0, 4, pixel_format="NV12"), ValueError,
     r"H \+ ceil\(H/2\) rows"),
    (lambda: K.crop_affine(np.zeros((6, 9), np.uint8), A0, 4, pixel_format="NV21"), ValueError, "even width"),
    (lambda: K.crop_affine(np.zeros((4, 9), np.uint8), A0, 4, pixel_format="NV12", uv=np.zeros((2, 9), np.uint8)),
     ValueError, r"uv must have shape \[ceil\(H/2\), 2\*ceil\(W/2\)\] = \[2, 10\]"),
    (lambda: K.crop_affine(np.zeros((4, 9), np.uint8), A0, 4, pixel_format="NV12", uv=np.zeros((2, 10))),
     TypeError, "uv must be a uint8"),
    (lambda: K.crop_box(IMG, [20, 0, 5, 5], 4), ValueError, "does not overlap"),
    (lambda: K.crop_box(IMG, [0, 0, 0, 5], 4), ValueError, "box width and height"),
    (lambda: K.crop_box(IMG, [0, 0, 5], 4), ValueError, r"box must have shape \[4\]"),
    (lambda: K.crop_box(IMG, ["a", 0, 5, 5], 4), TypeError, "box must be a real-valued"),
    (lambda: K.crop_box(IMG, [0, np.inf, 5, 5], 4), ValueError, "box"),
    (lambda: K.box_to_affine([0, 0, 5, 5], scale=0), ValueError, "scale"),
    (lambda: K.box_to_affine([0, 0, 5, 5], out_size=2.5), TypeError, "out_size must be an integer"),
    (lambda: K.affine_invert([[1, 2, 3], [2, 4, 6]]), ValueError, "singular"),
    (lambda: K.points_transform(np.zeros((3, 3)), A0), ValueError, r"points must have shape \[\.\.\., 2\]"),
    (lambda: K.heatmap_to_image(np.zeros((3, 2)), (64, 64), (256,), A0), ValueError, "input_size"),
    (lambda: K.heatmap_to_image(np.zeros((3, 2)), (0, 64), (256, 256), A0), ValueError, "heatmap_w"),
    (lambda: K.heatmap_to_image(np.zeros((2, 3, 2)), (64, 64), (256, 256), np.zeros((3, 2, 3))), ValueError,
     "affine must have shape"),
    (lambda: K.box_from_landmarks(np.zeros((0, 2))), ValueError, "K >= 1"),
    (lambda: K.box_from_landmarks([[0, 0], [1, np.nan]]), ValueError, "pts"),
    (lambda: K.box_from_landmarks(np.zeros((3, 2)), 0, 3), ValueError, "right_idx"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT, ids=[m for _, _, m in BAD_INPUT])
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------------------------
# version

def test_version():
    assert facekd.__version__ == facekd._core.version()
    assert len(facekd.__version__.split(".")) == 3
    try:
        dist = importlib.metadata.distribution("facekd")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("facekd is not installed (source tree without metadata)")
    if Path(dist.locate_file("facekd/__init__.py")).resolve() != Path(facekd.__file__).resolve():
        pytest.skip("running from the source tree, not the installed package")
    assert facekd.__version__ == dist.version


@pytest.mark.parametrize("impl", [K, R], ids=["c", "numpy"])
def test_dark_keeps_a_border_peak_on_the_map(impl):
    """A map falling off steeply from its border column (the fuzzer found one) peaks on the border; DARK's
    Newton step points past it, and the decoded point must stay on the map (pixel centres -0.5 .. w - 0.5)."""
    h = w = 16
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    left = np.exp(-2.0 * xs - (ys - 8) ** 2 / 8.0).astype(np.float32)
    for m in (left, left[:, ::-1], left.T, left.T[::-1]):
        coords, _ = impl.decode_heatmaps(np.ascontiguousarray(m)[None, None], "dark", blur_sigma=0.5)
        x, y = coords[0, 0]
        assert -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5, (x, y)
