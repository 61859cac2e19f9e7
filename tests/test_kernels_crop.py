"""facekd.kernels face-crop preprocessing against the numpy reference and the OpenCV pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from facekd import kernels as K
from facekd.kernels import reference as R

BPP = {"RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4, "GRAY": 1, "NV12": 1, "NV21": 1}


def make_image(rng, fmt, width, height, pad=0, stacked=False):
    """Random image of `fmt` as a view with padded rows; returns (image, uv)."""
    bpp = BPP[fmt]
    if fmt in ("NV12", "NV21"):
        ch, cw = (height + 1) // 2, 2 * ((width + 1) // 2)
        if stacked:
            buf = rng.integers(0, 256, (height + ch, width + pad), dtype=np.uint8)
            return buf[:, :width], None
        y = rng.integers(0, 256, (height, width + pad), dtype=np.uint8)[:, :width]
        uv = rng.integers(0, 256, (ch, cw + pad), dtype=np.uint8)[:, :cw]
        return y, uv
    buf = rng.integers(0, 256, (height, width * bpp + pad), dtype=np.uint8)
    img = buf[:, : width * bpp].reshape(height, width, bpp)
    return (img[..., 0] if fmt == "GRAY" else img), None


@settings(max_examples=60, deadline=None)
@given(fmt=st.sampled_from(R.PIXEL_FORMATS), width=st.integers(1, 17), height=st.integers(1, 13),
       pad=st.integers(0, 5), out_size=st.integers(1, 12), channels=st.sampled_from([1, 3]),
       box=st.tuples(st.floats(-20, 20), st.floats(-20, 20), st.floats(0.5, 30), st.floats(0.5, 30)),
       scale=st.floats(0.5, 2.0), rotation=st.floats(-180, 180), flip=st.booleans(),
       border=st.floats(0, 255), seed=st.integers(0, 2**16), stacked=st.booleans())
def test_crop_matches_reference(fmt, width, height, pad, out_size, channels, box, scale, rotation, flip, border,
                                seed, stacked):
    stacked = stacked and fmt in ("NV12", "NV21") and width % 2 == 0
    image, uv = make_image(np.random.default_rng(seed), fmt, width, height, pad, stacked)
    A = R.box_to_affine(box, scale=scale, rotation=rotation, flip=flip, out_size=out_size)
    kw = dict(pixel_format=fmt, out_channels=channels, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25),
              border_value=border, uv=uv)
    np.testing.assert_allclose(K.crop_affine(image, A, out_size, **kw), R.crop_affine(image, A, out_size, **kw),
                               atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=6, max_size=6), st.integers(0, 2**16))
def test_crop_general_affine_matches_reference(coeffs, seed):
    """Shear, reflections, degenerate and huge-scale affines: still equal to the reference."""
    image, _ = make_image(np.random.default_rng(seed), "BGRA", 9, 6, pad=1)
    A = np.array(coeffs, np.float32).reshape(2, 3) * np.array([[1, 1, 4], [1, 1, 4]], np.float32)
    kw = dict(pixel_format="BGRA", border_value=12.0)
    np.testing.assert_allclose(K.crop_affine(image, A, 7, **kw), R.crop_affine(image, A, 7, **kw), atol=1e-4)


def test_crop_formats_agree_on_the_same_picture():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    crop = lambda img, fmt: K.crop_box(img, [2, 1, 8, 6], 10, rotation=15, pixel_format=fmt)[0]
    want = crop(rgb, "RGB")
    np.testing.assert_allclose(crop(rgb[..., ::-1].copy(), "BGR"), want, atol=1e-6)
    rgba = np.concatenate([rgb, np.full((9, 12, 1), 9, np.uint8)], axis=2)
    np.testing.assert_allclose(crop(rgba, "RGBA"), want, atol=1e-6)
    np.testing.assert_allclose(crop(rgba[..., [2, 1, 0, 3]].copy(), "BGRA"), want, atol=1e-6)
    # gray: 3 equal channels; 1 channel == luma of the colour crop
    gray = rng.integers(0, 256, (9, 12), dtype=np.uint8)
    g3 = K.crop_box(gray, [2, 1, 8, 6], 10, pixel_format="GRAY", mean=(0.5,) * 3, std=(0.25,) * 3)[0]
    np.testing.assert_allclose(g3[0], g3[1])
    np.testing.assert_allclose(g3[0], g3[2])
    g1 = K.crop_box(gray[..., None], [2, 1, 8, 6], 10, pixel_format="GRAY", out_channels=1, mean=0.5, std=0.25)[0]
    np.testing.assert_allclose(g1[0], g3[0], atol=1e-6)
    luma = K.crop_box(rgb, [2, 1, 8, 6], 10, out_channels=1, mean=0.0, std=1.0)[0][0]
    plain = K.crop_box(rgb, [2, 1, 8, 6], 10, mean=(0, 0, 0), std=(1, 1, 1))[0]
    np.testing.assert_allclose(luma, np.tensordot([0.299, 0.587, 0.114], plain, 1), atol=1e-5)


def test_nv12_stacked_equals_separate_and_nv21_swaps_chroma():
    rng = np.random.default_rng(4)
    stacked = rng.integers(0, 256, (9 + 5, 12), dtype=np.uint8)  # H = 9 (odd), ceil(9/2) = 5 chroma rows
    y, uv = stacked[:9], stacked[9:]
    a = K.crop_box(stacked, [1, 1, 9, 7], 8, pixel_format="NV12")[0]
    b = K.crop_box(y, [1, 1, 9, 7], 8, pixel_format="NV12", uv=uv)[0]
    np.testing.assert_array_equal(a, b)
    vu = uv.reshape(5, 6, 2)[..., ::-1]  # [rows, pairs, 2] view, swapped bytes
    c = K.crop_box(y, [1, 1, 9, 7], 8, pixel_format="NV21", uv=np.ascontiguousarray(vu))[0]
    np.testing.assert_array_equal(a, c)
    d = K.crop_box(y, [1, 1, 9, 7], 8, pixel_format="NV21", uv=np.ascontiguousarray(vu).reshape(5, 12))[0]
    np.testing.assert_array_equal(a, d)


def test_padded_rows_and_out_buffer():
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    view = big[2:14, 5:25]  # row stride 120 bytes, 20 pixels per row
    A = K.box_to_affine([3, 2, 10, 8], rotation=-10, out_size=16)
    out = np.full((3, 16, 16), -7.0, np.float32)
    res = K.crop_affine(view, A, 16, out=out)
    assert res is out
    np.testing.assert_array_equal(out, K.crop_affine(np.ascontiguousarray(view), A, 16))
    crop, affine = K.crop_box(view, [3, 2, 10, 8], 16, rotation=-10, out=out)
    assert crop is out
    np.testing.assert_array_equal(affine, A)


def test_crop_border_and_box_positions():
    img = np.full((6, 8, 3), 200, np.uint8)
    # fully inside: constant; partly outside: border appears; box touching only the half-pixel edge: error
    inside = K.crop_box(img, [2, 2, 3, 3], 5, scale=1.0, mean=(0, 0, 0), std=(1, 1, 1))[0]
    np.testing.assert_allclose(inside, 200 / 255, atol=1e-6)
    partly = K.crop_box(img, [-4, 1, 6, 3], 6, scale=1.0, mean=(0, 0, 0), std=(1, 1, 1), border_value=50)[0]
    assert partly[:, :, 0].max() == pytest.approx(50 / 255, abs=1e-6)  # left columns: border only
    assert partly[:, :, -1].min() == pytest.approx(200 / 255, abs=1e-6)
    K.crop_box(img, [-2.4, 0, 2, 2], 4)  # reaches x = -0.4 > -0.5: overlaps
    with pytest.raises(ValueError, match="does not overlap"):
        K.crop_box(img, [-2.5, 0, 2, 2], 4)  # ends exactly at the image edge x = -0.5


def smooth_image(h, w):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(xs / 97.0) * np.cos(ys / 71.0)
    g = 60 + 0.12 * xs + 0.1 * ys
    b = 200 - 0.1 * xs
    return np.stack([r, g, b], axis=-1)


@pytest.mark.parametrize("rotation", [0.0, 17.0])
def test_crop_matches_opencv_pipeline(rotation):
    """Same result as cv2.warpAffine (bilinear, constant border) + normalisation + CHW transpose.

    OpenCV quantises sample positions to 1/32 px: on a smooth float image (gradient <= ~1 level/px) that
    is <= 1/64 level, ~3e-4 in normalised units; a uint8 warp adds its output rounding (0.5 level)."""
    cv2.setNumThreads(1)
    rgb_f = smooth_image(240, 320)
    rgb_u8 = np.round(rgb_f).astype(np.uint8)
    box = [-20, 30, 150, 170]  # partly outside: the border is compared too
    crop, A = K.crop_box(rgb_u8, box, 64, rotation=rotation)
    mean, std = np.array(K.IMAGENET_MEAN), np.array(K.IMAGENET_STD)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # A maps output (crop) pixels to the source
    for src, tol in ((rgb_u8.astype(np.float32), 1e-3), (rgb_u8, 0.5 / 255 / std.min() + 1e-3)):
        warped = cv2.warpAffine(src, A.astype(np.float64), (64, 64), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(0, 0, 0))
        expected = ((warped / 255.0 - mean) / std).transpose(2, 0, 1)
        np.testing.assert_allclose(crop, expected, atol=tol)


def test_subnormal_std_is_rejected_not_inf():
    """A std so small that (v/255 - mean)/std overflows must be an error, never ±inf in the crop."""
    import numpy as np
    import pytest

    from facekd import kernels

    img = np.full((12, 12, 3), 200, np.uint8)
    with pytest.raises(ValueError, match="std"):
        kernels.crop_box(img, [0, 0, 12, 12], 8, std=(1e-39, 1.0, 1.0))
    crop, _ = kernels.crop_box(img, [0, 0, 12, 12], 8, std=(1e-30, 1.0, 1.0), mean=(0.0, 0.0, 0.0))
    assert np.isfinite(crop).all()
