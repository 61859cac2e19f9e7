"""HeatmapCodec: sub-pixel targets, decoding through the kernels, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facekd.codecs import CodecError, HeatmapCodec


def _random_points(rng, codec, n, margin_hm=3.0):
    """Random sub-pixel crop points whose heatmap position is >= margin from the border."""
    h = codec.heatmap_size
    hm = rng.uniform(margin_hm, h - 1 - margin_hm, size=(n, 2))
    return codec.heatmap_to_crop(hm).astype(np.float32)


def test_targets_are_subpixel_gaussians():
    c = HeatmapCodec(256, 64, 1.5)
    pts = np.array([[100.3, 57.8], [40.0, 200.6]], dtype=np.float32)
    hm, w = c.encode(pts)
    assert hm.shape == (2, 64, 64) and hm.dtype == np.float32 and w.tolist() == [1.0, 1.0]
    centre = c.crop_to_heatmap(pts)
    ys, xs = np.mgrid[0:64, 0:64]
    for k in range(2):
        # the exact formula, evaluated independently on the grid
        ref = np.exp(-((xs - centre[k, 0]) ** 2 + (ys - centre[k, 1]) ** 2) / (2 * 1.5 ** 2))
        np.testing.assert_allclose(hm[k], ref, atol=1e-6)
        # centroid of the rendered map = the sub-pixel target (not the nearest integer)
        m = hm[k]
        np.testing.assert_allclose([(m * xs).sum() / m.sum(), (m * ys).sum() / m.sum()], centre[k], atol=1e-3)
        assert m.max() < 1.0  # off-grid centre: no pixel reaches the peak value 1


def test_crop_heatmap_coordinates_follow_pixel_centres():
    c = HeatmapCodec(256, 64, 2.0)
    # crop pixels 0..3 cover heatmap pixel 0, whose centre is crop 1.5
    assert c.crop_to_heatmap(np.array([1.5, -0.5])).tolist() == [0.0, -0.5]
    assert c.heatmap_to_crop(np.array([63.0])).tolist() == [253.5]


def test_weights_zero_for_invisible_nan_and_outside():
    c = HeatmapCodec(128, 32, 1.0)
    pts = np.array([[60, 60], [60, 60], [np.nan, 3], [-3, 50], [50, 128.5], [127.4, 0]], dtype=np.float32)
    vis = np.array([True, False, True, True, True, True])
    hm, w = c.encode(pts, vis)
    assert w.tolist() == [1, 0, 0, 0, 0, 1]
    assert hm[1].max() > 0.8        # invisible but inside: still rendered, weight 0
    assert not hm[2:5].any()        # NaN / outside the heatmap: empty map
    with pytest.raises(CodecError, match="visible must be"):
        c.encode(pts, vis[:3])
    with pytest.raises(CodecError, match=r"points must be \[K, 2\]"):
        c.encode(pts[:, :1])


@pytest.mark.parametrize("input_size, heatmap_size, sigma", [(256, 64, 1.5), (256, 64, 1.0), (128, 32, 1.5),
                                                            (128, 64, 2.0)])
def test_dark_round_trip_is_subpixel_exact(input_size, heatmap_size, sigma):
    rng = np.random.default_rng(7)
    c = HeatmapCodec(input_size, heatmap_size, sigma, "dark")
    pts = _random_points(rng, c, 98, margin_hm=max(3.0, 3 * sigma))  # DARK's blur sees no border
    hm, _ = c.encode(pts)
    dec, scores = c.decode(hm[None])
    err = np.abs(c.crop_to_heatmap(dec[0]) - c.crop_to_heatmap(pts))
    assert err.max() < 0.05, err.max()
    np.testing.assert_allclose(scores[0], hm.reshape(98, -1).max(1))


def test_softargmax_round_trip_with_its_beta():
    """softmax(beta * h) of a Gaussian target: sigma 2.5 / beta 18 decodes within 0.05 px."""
    rng = np.random.default_rng(3)
    c = HeatmapCodec(256, 64, 2.5, "softargmax", beta=18.0)
    pts = _random_points(rng, c, 68, margin_hm=8)
    hm, _ = c.encode(pts)
    dec, _ = c.decode(hm[None])
    assert np.abs(c.crop_to_heatmap(dec[0]) - c.crop_to_heatmap(pts)).max() < 0.05
    # beta matters: beta 1 reads the map as nearly uniform logits -> pulled to the centre
    c1 = HeatmapCodec(256, 64, 2.5, "softargmax", beta=1.0)
    dec1, _ = c1.decode(hm[None])
    assert np.abs(c.crop_to_heatmap(dec1[0]) - c.crop_to_heatmap(pts)).max() > 5


def test_argmax_is_within_a_quarter_pixel():
    rng = np.random.default_rng(5)
    c = HeatmapCodec(256, 64, 1.5, "argmax")
    pts = _random_points(rng, c, 50)
    dec, _ = c.decode(c.encode(pts)[0][None])
    err = np.abs(c.crop_to_heatmap(dec[0]) - c.crop_to_heatmap(pts))
    assert err.max() <= 0.5 + 1e-5 and err.mean() < 0.2


def test_decode_to_image_coordinates_through_the_affine():
    from facekd import kernels

    rng = np.random.default_rng(11)
    c = HeatmapCodec(256, 64, 1.5, "dark")
    affines = np.stack([kernels.box_to_affine(np.array([40, 30, 120, 140], np.float32), scale=1.25,
                                              rotation=r, flip=f, out_size=256)
                        for r, f in [(0.0, False), (17.0, True)]])
    img_pts = rng.uniform(60, 150, size=(2, 10, 2)).astype(np.float32)
    crop_pts = np.stack([kernels.points_transform(img_pts[i], kernels.affine_invert(affines[i]))
                         for i in range(2)])
    hm = np.stack([c.encode(crop_pts[i])[0] for i in range(2)])
    out, _ = c.decode(hm, affines)
    assert out.shape == (2, 10, 2)
    # 0.05 heatmap px = 0.2 crop px, times the crop->image scale (side / 256)
    tol = 0.05 * c.stride * (140 * 1.25 / 256)
    assert np.abs(out - img_pts).max() < tol
    # crop coordinates without an affine
    out_crop, _ = c.decode(hm)
    assert np.abs(out_crop - crop_pts).max() < 0.05 * c.stride
    with pytest.raises(CodecError, match="crop_to_image must be"):
        c.decode(hm, affines[:1].repeat(3, 0))


def test_decode_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    c = HeatmapCodec(64, 16, 1.0)
    pts = np.array([[20.2, 31.7]], np.float32)
    hm = torch.from_numpy(c.encode(pts)[0][None]).requires_grad_(True)
    out, _ = c.decode(hm)
    assert np.abs(out - pts).max() < 0.05 * c.stride


def test_serialisation_round_trips_exactly():
    c = HeatmapCodec(192, 48, 1.75, "softargmax", beta=12.5)
    d = json.loads(json.dumps(c.to_dict()))
    c2 = HeatmapCodec.from_dict(d)
    assert c2 == c and c2.to_dict() == c.to_dict()
    assert HeatmapCodec.from_dict({"input_size": 256, "heatmap_size": 64, "sigma": 1.5}).decode_mode == "dark"


@pytest.mark.parametrize("args, message", [
    ((256, 64, 0.0), "sigma must be > 0"),
    ((256, 512, 1.0), "must not exceed"),
    ((256.5, 64, 1.0), "input_size must be a positive integer"),
    ((256, 64, 1.0, "mean"), "decode must be one of"),
    ((256, 64, 1.0, "dark", -1.0), "beta must be > 0"),
])
def test_invalid_parameters(args, message):
    with pytest.raises(CodecError, match=message):
        HeatmapCodec(*args)


def test_from_dict_errors():
    with pytest.raises(CodecError, match="missing key"):
        HeatmapCodec.from_dict({"input_size": 256})
    with pytest.raises(CodecError, match="unsupported type"):
        HeatmapCodec.from_dict({"type": "simcc", "input_size": 256, "heatmap_size": 64, "sigma": 1})
