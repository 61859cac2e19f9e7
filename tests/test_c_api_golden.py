"""The C API (through facekd.kernels) and the numpy reference against the golden vectors of
tests/golden/ (format and tolerances: tests/golden/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facekd import kernels as K
from facekd.kernels import reference as R

GOLDEN = Path(__file__).resolve().parent / "golden"
DTYPES = {"i32": np.int64, "u8": np.uint8, "f32": np.float32, "f64": np.float64}
MODES = ("argmax", "dark", "softargmax")
FORMATS = ("RGB", "BGR", "RGBA", "BGRA", "GRAY", "NV12", "NV21")
BPP = {"RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4, "GRAY": 1, "NV12": 1, "NV21": 1}


def read_golden(name: str) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """[(kernel, case name, {key: array})] of one golden file."""
    lines = [ln.split() for ln in (GOLDEN / name).read_text().splitlines()]
    lines = [t for t in lines if t and not t[0].startswith("#")]
    assert lines[0] == ["facekd-golden", "1"]
    cases, current = [], None
    for tokens in lines[1:]:
        if tokens[0] == "case":
            current = (tokens[1], tokens[2], {})
        elif tokens[0] == "end":
            cases.append(current)
            current = None
        else:
            key, dtype, *rest = tokens
            colon = rest.index(":")
            shape = tuple(int(d) for d in rest[:colon])
            values = np.array([float(v) for v in rest[colon + 1:]], np.float64)
            assert values.size == int(np.prod(shape)), f"{name}: {key}: value count does not match shape"
            current[2][key] = values.astype(DTYPES[dtype]).reshape(shape)
    assert current is None, f"{name}: missing 'end'"
    return cases


def cases_of(name):
    return [pytest.param(c, id=f"{c[0]}-{c[1]}") for c in read_golden(name)]


def close(got, want, atol, rtol=0.0):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, atol=atol, rtol=rtol)


def scalar(f, key):
    return f[key].item()


# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", cases_of("decode.txt"))
@pytest.mark.parametrize("impl", [K, R], ids=["c_api", "reference"])
def test_decode(case, impl):
    _, _, f = case
    mode = MODES[scalar(f, "mode")]
    kw = dict(blur_sigma=scalar(f, "blur_sigma"), beta=scalar(f, "beta"))
    if "status" in f:
        with pytest.raises(ValueError, match="NaN or Inf"):
            impl.decode_heatmaps(f["heatmaps"], mode, **kw)
        return
    coords, scores = impl.decode_heatmaps(f["heatmaps"], mode, **kw)
    close(coords, f["coords"], 0.0 if mode == "argmax" else 1e-4)
    close(scores, f["scores"], 0.0)


def image_of(f):
    """The golden image bytes as the numpy views facekd.kernels takes: (image, uv, pixel_format)."""
    fmt = FORMATS[scalar(f, "format")]
    width, height, bpp = scalar(f, "width"), scalar(f, "height"), BPP[fmt]
    data = f["data"]
    if fmt in ("NV12", "NV21"):
        uv = f["uv_data"][:, : 2 * ((width + 1) // 2)] if "uv_data" in f else None
        return data[:, :width], uv, fmt  # without uv_data, `data` is the stacked buffer
    image = data[:height, : width * bpp].reshape(height, width, bpp)
    return (image[..., 0] if fmt == "GRAY" else image), None, fmt


@pytest.mark.parametrize("case", cases_of("crop.txt"))
@pytest.mark.parametrize("impl", [K, R], ids=["c_api", "reference"])
def test_crop(case, impl):
    kernel, _, f = case
    image, uv, fmt = image_of(f)
    kw = dict(pixel_format=fmt, out_channels=scalar(f, "out_channels"), mean=f["mean"], std=f["std"],
              border_value=scalar(f, "border_value"), uv=uv)
    size = scalar(f, "out_size")
    if kernel == "crop_affine":
        close(impl.crop_affine(image, f["crop_to_image"], size, **kw), f["out"], 1e-4)
        return
    box_kw = dict(scale=scalar(f, "scale"), rotation=scalar(f, "rotation_deg"), flip=bool(scalar(f, "flip")))
    if "status" in f:
        with pytest.raises(ValueError, match="does not overlap"):
            impl.crop_box(image, f["box"], size, **box_kw, **kw)
        return
    out, affine = impl.crop_box(image, f["box"], size, **box_kw, **kw)
    close(affine, f["crop_to_image"], 1e-4, 1e-5)
    close(out, f["out"], 1e-4)


@pytest.mark.parametrize("case", cases_of("geometry.txt"))
@pytest.mark.parametrize("impl", [K, R], ids=["c_api", "reference"])
def test_geometry(case, impl):
    kernel, _, f = case
    if kernel == "box_to_affine":
        got = impl.box_to_affine(f["box"], scale=scalar(f, "scale"), rotation=scalar(f, "rotation_deg"),
                                 flip=bool(scalar(f, "flip")), out_size=scalar(f, "out_size"))
        close(got, f["crop_to_image"], 1e-4, 1e-5)
    elif kernel == "affine_invert":
        if "status" in f:
            with pytest.raises(ValueError, match="singular"):
                impl.affine_invert(f["affine"])
        else:
            close(impl.affine_invert(f["affine"]), f["inverse"], 1e-5, 1e-5)
    elif kernel == "points_transform":
        close(impl.points_transform(f["pts"], f["affine"]), f["out"], 1e-4, 1e-5)
    elif kernel == "heatmap_to_image":
        got = impl.heatmap_to_image(f["pts"], (scalar(f, "heatmap_w"), scalar(f, "heatmap_h")),
                                    (scalar(f, "input_w"), scalar(f, "input_h")), f["crop_to_image"])
        close(got, f["out"], 1e-4, 1e-5)
    elif kernel == "box_from_landmarks":
        box, roll = impl.box_from_landmarks(f["pts"], scalar(f, "left_idx"), scalar(f, "right_idx"))
        close(box, f["box"], 1e-4, 1e-5)
        close(roll, f["roll_deg"], 1e-4)
    else:
        pytest.fail(f"unknown geometry kernel {kernel}")


@pytest.mark.parametrize("case", cases_of("smoother.txt"))
@pytest.mark.parametrize("impl", [K, R], ids=["c_api", "reference"])
def test_smoother(case, impl):
    _, _, f = case
    s = impl.OneEuroSmoother(scalar(f, "n_values"), min_cutoff=scalar(f, "min_cutoff"), beta=scalar(f, "beta"),
                             d_cutoff=scalar(f, "d_cutoff"))
    out = []
    for values, t, reset in zip(f["values"], f["timestamps"], f["reset"]):
        if reset:
            s.reset()
        out.append(s.apply(values, float(t)))
    close(np.stack(out), f["out"], 1e-5, 1e-5)


def test_golden_set_is_complete_and_small():
    files = sorted(GOLDEN.glob("*.txt"))
    assert [p.name for p in files] == ["crop.txt", "decode.txt", "geometry.txt", "sequence.txt", "smoother.txt"]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    crop_formats = {FORMATS[scalar(f, "format")] for _, _, f in read_golden("crop.txt")}
    assert crop_formats == set(FORMATS)
    decode_modes = {MODES[scalar(f, "mode")] for _, _, f in read_golden("decode.txt")}
    assert decode_modes == set(MODES)
