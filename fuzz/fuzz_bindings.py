#!/usr/bin/env python3
"""atheris harness: the facekd C API through its Python binding (``facekd._core``) and the
``facekd.kernels`` wrapper.

Each input is read as up to four operations -- heatmap decoding, crops, geometry, smoothing --
whose arguments come from the fuzz bytes: shapes, dtypes, memory layouts (padded rows, negative or
non-unit strides, Fortran order, read-only buffers), pixel formats, NV12/NV21 planes, boxes,
affines, parameters and NaN/Inf values, valid or not. Arrays are always real numpy arrays, so no
buffer is ever smaller than its shape says: what is exercised is the library's validation.

A call may raise ``ValueError`` or ``TypeError`` (the documented errors, with a message); anything
else (``RuntimeError`` = FK_ERR_INTERNAL, ``SystemError``, a crash, a sanitizer report) is a
finding, and so is a violated property of a successful call (see the ``_check_*`` helpers).

Run (see fuzz/README.md):  python fuzz/fuzz_bindings.py [libFuzzer flags] [corpus dir]
With FACEKD_FUZZ_CORE=path/to/_core*.so the sanitized module of fuzz/CMakeLists.txt replaces
``facekd._core`` (then LD_PRELOAD the merged runtime asan_with_fuzzer.so).
"""

from __future__ import annotations

import importlib.util
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np

EXPECTED = (ValueError, TypeError)
MAX_SIDE = 40  # heatmap / image / crop sides stay small: an execution must take well under 1 ms

_SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, -1e-30, 1e30, -1e30, 3.4e38, -3.4e38, 1e-45,
            math.inf, -math.inf, math.nan)


def install_core(path: str | os.PathLike | None = None) -> None:
    """Make ``facekd._core`` the extension at ``path`` (default: $FACEKD_FUZZ_CORE, if set).
    Must run before ``facekd`` is imported."""
    path = path or os.environ.get("FACEKD_FUZZ_CORE")
    if not path:
        return
    if "facekd" in sys.modules:
        raise RuntimeError("install_core() must run before facekd is imported")
    spec = importlib.util.spec_from_file_location("facekd._core", str(path))
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["facekd._core"] = module


class Reader:
    """Consumes the fuzz input; past its end every read returns zeros."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0

    def empty(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out + bytes(n - len(out))

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def range(self, lo: int, hi: int) -> int:
        return lo + self.u32() % (hi - lo + 1)

    def flag(self) -> bool:
        return bool(self.u8() & 1)

    def choice(self, seq):
        return seq[self.u8() % len(seq)]

    def raw(self) -> float:
        return struct.unpack(">f", self.take(4))[0]

    def value(self, lo: float, hi: float) -> float:
        """Mostly in [lo, hi], sometimes a special value, sometimes any float32 bit pattern."""
        k = self.u8()
        if k < 160:
            return lo + (hi - lo) * (self.u32() % 100001) / 100000.0
        if k < 220:
            return self.choice(_SPECIAL)
        return self.raw()

    def floats(self, n: int, lo: float, hi: float) -> np.ndarray:
        """n float32 values: raw bytes, or mostly-in-range values (the latter for small n)."""
        if n > 64 or self.flag():
            return np.frombuffer(self.take(4 * n), dtype=np.float32).copy()
        return np.array([self.value(lo, hi) for _ in range(n)], dtype=np.float32)

    def scalar(self, lo: float, hi: float):
        """A parameter: usually a float, sometimes an int, a string, None or a numpy scalar."""
        k = self.u8()
        if k < 230:
            return self.value(lo, hi)
        return self.choice([self.range(-3, 3), "1.0", None, np.float32(self.value(lo, hi)), True, [1.0]])


def _layout(r: Reader, a: np.ndarray) -> np.ndarray:
    """The same values in another memory layout (sometimes): row-padded view, reversed rows,
    every other column of a wider array, Fortran order, read-only, or a dtype change."""
    k = r.u8()
    if k < 150 or a.ndim < 2:
        return a
    if k < 170:  # padded rows: a view into a wider buffer
        pad = r.range(1, 9)
        big = np.zeros(a.shape[:1] + (a.shape[1] + pad,) + a.shape[2:], dtype=a.dtype)
        big[:, :a.shape[1]] = a
        return big[:, :a.shape[1]]
    if k < 185:
        return a[::-1]
    if k < 200:
        big = np.zeros(a.shape[:1] + (2 * a.shape[1],) + a.shape[2:], dtype=a.dtype)
        big[:, ::2] = a
        return big[:, ::2]
    if k < 215:
        return np.asfortranarray(a)
    if k < 230:
        b = a.copy()
        b.setflags(write=False)
        return b
    return a.astype(r.choice([np.float64, np.float16, np.int32, np.uint8, np.int64, np.bool_]))


def _call(fn, *args, **kwargs):
    """``fn(...)``, or None when it raises one of the documented errors."""
    try:
        return fn(*args, **kwargs)
    except EXPECTED as e:
        if not str(e):
            raise AssertionError(f"{fn.__name__} raised {type(e).__name__} without a message") from None
        return None


# ------------------------------------------------------------------------------------------------

def fuzz_decode(r: Reader, K, core) -> None:
    shape = [r.range(0, 3), r.range(0, 4), r.range(0, MAX_SIDE), r.range(0, MAX_SIDE)]
    if r.u8() < 40:
        shape = shape[1:] if r.flag() else shape + [r.range(1, 2)]
    count = int(np.prod(shape))
    fill = r.range(0, 2)
    if fill == 0 or len(shape) < 3:
        hm = r.floats(count, -1.0, 1.0).reshape(shape)
    else:  # a blob per map, plus the odd special value
        h, w = shape[-2], shape[-1]
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = r.value(0, max(w - 1, 0)), r.value(0, max(h - 1, 0))
        with np.errstate(all="ignore"):
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 4.0).astype(np.float32)
        hm = np.broadcast_to(blob, shape).copy()
        if fill == 2 and count:
            for _ in range(r.range(1, 3)):
                hm.reshape(-1)[r.range(0, count - 1)] = r.value(-2, 2)
    hm = _layout(r, hm)
    mode = r.choice(["argmax", "dark", "softargmax", "DARK", "bogus", "", 1, None]) if r.u8() < 250 else "argmax"
    sigma, beta = r.scalar(0.0, 5.0), r.scalar(0.0, 50.0)
    if r.u8() < 60:  # the raw binding: any int mode
        code = r.range(-2, 4)
        mode = {0: "argmax", 1: "dark", 2: "softargmax"}.get(code, code)
        res = _call(core.decode_heatmaps, hm, code, sigma, beta)
    else:
        res = _call(K.decode_heatmaps, hm, mode, blur_sigma=sigma, beta=beta)
    known = isinstance(mode, str) and mode.lower() in ("argmax", "dark", "softargmax")
    valid = (hm.dtype == np.float32 and hm.ndim == 4 and hm.size > 0 and known and _real(sigma)
             and 0 < sigma <= 1000 and _real(beta) and math.isfinite(beta) and beta > 0)
    if valid and np.isfinite(hm).all() and res is None and hm.flags.c_contiguous:
        raise AssertionError(f"valid decode refused: shape {hm.shape}, mode {mode}, sigma {sigma}, beta {beta}")
    if res is not None:
        assert known, f"decode accepted mode {mode!r}"
        _check_decode(hm, *res, mode=mode.lower())


def _real(v) -> bool:
    return isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_decode(hm: np.ndarray, coords: np.ndarray, scores: np.ndarray, mode: str) -> None:
    h4 = np.asarray(hm, dtype=np.float32)
    if h4.ndim == 3:
        h4, coords, scores = h4[None], coords[None], scores[None]
    n, k, h, w = h4.shape
    assert coords.shape == (n, k, 2) and coords.dtype == np.float32, coords.shape
    assert scores.shape == (n, k), scores.shape
    assert np.isfinite(h4).all(), "decode accepted a non-finite map"
    np.testing.assert_array_equal(scores, h4.max(axis=(2, 3)), err_msg="score is not the map maximum")
    assert np.isfinite(coords).all(), "non-finite coordinate"
    # argmax (+ quarter shift) and soft-argmax stay in [0, size - 1]; DARK moves the argmax by at
    # most 1 px per axis (c_api.h)
    m = 1.0 if mode == "dark" else 1e-4
    x, y = coords[..., 0], coords[..., 1]
    assert (x >= -m).all() and (x <= w - 1 + m).all() and (y >= -m).all() and (y <= h - 1 + m).all(), \
        f"{mode}: coordinate outside the {w}x{h} map: {coords.reshape(-1, 2)[:4]}"


# ------------------------------------------------------------------------------------------------

_CHANNELS = {"RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4, "GRAY": 1, "NV12": 1, "NV21": 1}


def _image(r: Reader):
    """(image, pixel_format, uv) for a crop call, valid or not."""
    fmt = r.choice(list(_CHANNELS) + ["rgb", "YUV"]) if r.u8() < 250 else r.choice([3, None])
    h, w = r.range(0, 24), r.range(0, 24)
    c = _CHANNELS.get(str(fmt).upper(), 3)
    if r.u8() < 10:
        c = r.range(1, 5)
    uv = None
    if str(fmt).upper() in ("NV12", "NV21"):
        uv_shape = ((h + 1) // 2, 2 * ((w + 1) // 2))
        if r.flag():  # stacked Y + chroma rows
            rows = h + (h + 1) // 2 + (r.range(-1, 1) if r.u8() < 20 else 0)
            image = np.frombuffer(r.take(max(rows, 0) * w), np.uint8).reshape(max(rows, 0), w)
        else:
            image = np.frombuffer(r.take(h * w), np.uint8).reshape(h, w)
            if r.u8() < 20:
                uv_shape = (max(uv_shape[0] + r.range(-1, 1), 0), max(uv_shape[1] + r.range(-1, 1), 0))
            uv = np.frombuffer(r.take(uv_shape[0] * uv_shape[1]), np.uint8).reshape(uv_shape)
            if r.flag() and uv_shape[1] % 2 == 0:
                uv = uv.reshape(uv_shape[0], uv_shape[1] // 2, 2)
            uv = _layout(r, uv)
    elif c == 1 and r.flag():
        image = np.frombuffer(r.take(h * w), np.uint8).reshape(h, w)
    else:
        image = np.frombuffer(r.take(h * w * c), np.uint8).reshape(h, w, c)
    return _layout(r, image.copy()), fmt, uv


def fuzz_crop(r: Reader, K, core) -> None:
    image, fmt, uv = _image(r)
    size = r.range(1, MAX_SIDE) if r.u8() < 240 else r.range(-3, 0)
    channels = r.choice([3, 1]) if r.u8() < 240 else r.range(-1, 5)
    mean = K.IMAGENET_MEAN if r.u8() < 200 else tuple(r.value(-1, 1) for _ in range(r.choice([3, 3, 1, 2])))
    std = K.IMAGENET_STD if r.u8() < 200 else tuple(r.value(0.01, 2) for _ in range(r.choice([3, 3, 1, 2])))
    border = r.value(0, 255) if r.u8() < 60 else 0.0
    out = None
    k = r.u8()
    if k < 30 and size > 0 and channels in (1, 3):
        out = np.zeros((channels, size, size), np.float32)
    elif k < 40:
        out = r.choice([np.zeros((3, 4, 4), np.float32), np.zeros((channels % 4 or 1, size % 8 or 1, 1), np.float64),
                        np.zeros((3, 8, 16), np.float32)[:, :, ::2]])
    box = r.floats(4, -10, 40) if r.u8() < 245 else r.floats(r.range(0, 6), -10, 40)
    # what a successful call used: the wrapper takes 1 value for 1 channel; the raw binding gets 3
    m3 = tuple(mean) + (0.0,) * (3 - len(mean))
    s3 = tuple(std) + (1.0,) * (3 - len(std))
    eff_mean = mean if len(mean) == 3 else tuple(mean) * 3
    eff_std = std if len(std) == 3 else tuple(std) * 3
    scale, rot, flip = r.scalar(0.5, 2.0), r.value(-180, 180), r.flag()
    which = r.range(0, 3)
    if which == 0:
        res = _call(K.crop_box, image, box, size, scale=scale, rotation=rot, flip=flip, pixel_format=fmt,
                    out_channels=channels, mean=mean, std=std, border_value=border, uv=uv, out=out)
        crop = None if res is None else res[0]
    elif which == 1:
        if r.flag():
            affine = _call(K.box_to_affine, box, scale=scale, rotation=rot, flip=flip, out_size=max(size, 1))
            if affine is None:
                return
            if r.u8() < 40:
                affine = affine.copy()
                affine.reshape(-1)[r.range(0, 5)] = r.value(-1e6, 1e6)
        else:
            affine = r.floats(6, -50, 50).reshape(2, 3) if r.u8() < 245 else r.floats(r.range(0, 8), -50, 50)
        crop = _call(K.crop_affine, image, affine, size, pixel_format=fmt, out_channels=channels, mean=mean,
                     std=std, border_value=border, uv=uv, out=out)
    else:  # the raw binding: integer format codes, any arguments
        code = r.range(-2, 8)
        eff_mean, eff_std = m3, s3
        if which == 2:
            affine = r.floats(6, -50, 50).reshape(2, 3)
            crop = _call(core.crop_affine, image, code, uv, affine, size, channels, m3, s3, border, out)
        else:
            res = _call(core.crop_box, image, code, uv, box, scale, rot, flip, size, channels, m3, s3, border, out)
            crop = None if res is None else res[0]
    if crop is not None:
        _check_crop(crop, size, channels, eff_mean, eff_std, border, out)


def _check_crop(crop, size, channels, mean, std, border, out) -> None:
    assert isinstance(crop, np.ndarray) and crop.dtype == np.float32, type(crop)
    assert crop.shape == (channels, size, size), (crop.shape, channels, size)
    if out is not None:
        assert np.shares_memory(crop, out), "the result is not the `out` buffer"
    assert 0 <= border <= 255, f"crop accepted border_value {border}"
    m = np.asarray(mean, np.float32)[:channels]
    s = np.asarray(std, np.float32)[:channels]
    assert np.isfinite(m).all() and np.isfinite(s).all() and (s > 0).all(), f"crop accepted mean {mean}, std {std}"
    with np.errstate(all="ignore"):
        lo, hi = (np.float32(0) - m) / s, (np.float32(1) - m) / s
    for c in range(channels):
        if not (np.isfinite(lo[c]) and np.isfinite(hi[c])):
            continue  # extreme (still valid) parameters: the float32 result may overflow
        if s[c] < np.finfo(np.float32).tiny:
            continue  # known limitation (reported): a subnormal std overflows the kernel's 1 / (255 std) term
        assert np.isfinite(crop[c]).all(), f"channel {c}: non-finite value"
        tol = 1e-4 * (1 + abs(float(lo[c])) + abs(float(hi[c])))
        assert crop[c].min() >= lo[c] - tol and crop[c].max() <= hi[c] + tol, \
            f"channel {c} outside the normalised pixel range [{lo[c]}, {hi[c]}]"


# ------------------------------------------------------------------------------------------------

def fuzz_geometry(r: Reader, K, core) -> None:
    n = r.range(0, 20)
    pts = r.floats(2 * n, -100, 100).reshape(n, 2)
    if r.u8() < 20:
        pts = pts.reshape(-1) if r.flag() else pts[:, :1]
    pts = _layout(r, pts)
    affine = _layout(r, r.floats(6, -5, 5).reshape(2, 3)) if r.u8() < 245 else r.floats(r.range(0, 9), -5, 5)
    op = r.range(0, 4)
    if op == 0:
        inv = _call(K.affine_invert, affine)
        if inv is not None:
            a = np.asarray(affine, np.float64).reshape(2, 3)
            det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
            assert not abs(det) < 1e-13, f"singular affine inverted (det {det})"
            if abs(det) >= 0.1 and np.abs(a).max() <= 10:
                full = np.vstack([a, [0, 0, 1]]) @ np.vstack([np.asarray(inv, np.float64), [0, 0, 1]])
                np.testing.assert_allclose(full, np.eye(3), atol=1e-3, err_msg="affine inverse wrong")
    elif op == 1:
        out = _call(K.points_transform, pts, affine)
        if out is not None:
            assert out.shape == np.shape(pts), (out.shape, np.shape(pts))
    elif op == 2:
        hs = (r.range(-1, 64), r.range(-1, 64)) if r.u8() < 240 else r.choice([(1,), None, "ab"])
        ins = (r.range(-1, 256), r.range(-1, 256)) if r.u8() < 240 else r.choice([(1, 2, 3), None])
        if r.u8() < 60:
            if isinstance(hs, tuple) and len(hs) == 2 and isinstance(ins, tuple) and len(ins) == 2:
                res = _call(core.heatmap_to_image, pts, hs[0], hs[1], ins[0], ins[1], affine)
            else:
                res = None
        else:
            res = _call(K.heatmap_to_image, pts, hs, ins, affine)
        if res is not None:
            assert min(hs) >= 1 and min(ins) >= 1, f"heatmap_to_image accepted sizes {hs}, {ins}"
    elif op == 3:
        li, ri = r.range(-2, 22), r.range(-2, 22)
        res = _call(K.box_from_landmarks, pts, li, ri)
        if res is not None:
            box, roll = res
            p = np.asarray(pts, np.float32).reshape(-1, 2)
            assert len(p) >= 1 and li < len(p) and ri < len(p), "box_from_landmarks accepted a bad index"
            assert np.isfinite(p).all(), "box_from_landmarks accepted non-finite points"
            extent = p.astype(np.float64).max(axis=0) - p.astype(np.float64).min(axis=0)
            fits = (extent <= np.finfo(np.float32).max).all()  # else w or h overflows float32
            assert (np.isfinite(box).all() or not fits) and box[2] >= 0 and box[3] >= 0 and math.isfinite(roll), \
                (box, roll)
            tol = 1e-3 + 1e-6 * np.abs(box).max()
            assert (p[:, 0] >= box[0] - tol).all() and (p[:, 0] <= box[0] + box[2] + tol).all()
            assert (p[:, 1] >= box[1] - tol).all() and (p[:, 1] <= box[1] + box[3] + tol).all()
    else:
        res = _call(core.box_to_affine, r.floats(4, -10, 40), r.value(0.5, 2), r.value(-180, 180), r.flag(),
                    r.range(-2, MAX_SIDE))
        if res is not None:
            assert res.shape == (2, 3)


# ------------------------------------------------------------------------------------------------

def fuzz_smoother(r: Reader, K, core) -> None:
    n = r.range(1, 12) if r.u8() < 240 else r.range(-2, 16)
    params = {"min_cutoff": 1.0, "beta": 0.007, "d_cutoff": 1.0}
    for key in params:
        if r.u8() < 50:
            params[key] = r.scalar(0.0, 10.0)
    a = _call(K.OneEuroSmoother, n, **params)
    if a is None:
        return
    assert n >= 1, f"smoother accepted n_values {n}"
    b = K.OneEuroSmoother(n, **params)  # gets only the frames `a` accepts
    t = r.value(-1e3, 1e3)
    first = True
    for _ in range(r.range(1, 12)):
        if r.empty():
            break
        if r.u8() < 20:
            a.reset()
            b.reset()
            first = True
        v = r.floats(n, -500, 500)
        if r.u8() < 10:
            v = r.floats(r.range(0, n + 2), -500, 500)
        k = r.u8()
        ts = (t + 1e-3 + r.value(0, 1)) if k < 200 else t if k < 215 else t - 0.5 if k < 230 else r.scalar(-1e6, 1e6)
        out = _call(a.apply, v, ts)
        if out is None:
            continue
        assert _real(ts) and math.isfinite(ts) and (first or float(ts) > t), \
            f"smoother accepted timestamp {ts} after {t}"
        assert np.isfinite(v).all() and v.size == n, "smoother accepted a bad frame"
        twin = b.apply(v, ts)
        np.testing.assert_array_equal(out, twin, err_msg="a refused frame changed the smoother state")
        if first:
            np.testing.assert_array_equal(out, v, err_msg="the first frame was altered")
        assert np.isfinite(out).all(), "smoother produced a non-finite value"
        t, first = float(ts), False
    if r.u8() < 30:  # the raw class
        s = _call(core.Smoother, r.range(-2, 8), r.value(0, 5), r.value(0, 1), r.value(0, 5))
        if s is not None:
            _call(s.apply, r.floats(s.n_values, -1, 1), r.value(0, 10))


OPS = (fuzz_decode, fuzz_crop, fuzz_geometry, fuzz_smoother)


def one_input(data: bytes) -> None:
    """Run one fuzz input (raises on a finding)."""
    from facekd import _core as core
    from facekd import kernels as K

    r = Reader(data)
    for _ in range(4):
        if r.empty():
            break
        OPS[r.u8() % len(OPS)](r, K, core)


def main(argv: list[str]) -> None:
    if os.environ.get("FACEKD_FUZZ_CORE"):  # the sanitized core with this checkout's Python code
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
        install_core()
    import atheris

    with atheris.instrument_imports(include=["facekd"]):
        import facekd.kernels  # noqa: F401
    atheris.instrument_func(one_input)
    for op in OPS:
        atheris.instrument_func(op)
    np.seterr(all="ignore")
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
