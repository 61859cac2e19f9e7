"""Face detectors for full images: a small protocol, the bundled CNN detector (YuNet, with five
keypoints) and an offline Haar-cascade detector (kept for comparison, behind an explicit option).

A detector returns face boxes in ITS OWN convention (a Haar box is a square from the forehead
to below the mouth, a YuNet box runs from the hairline to the chin); facekd models are trained on
crops around the tight box of the landmarks (enlarged by the card's ``crop_scale``).
:class:`BoxTransform` maps one convention to the other; every bundled detector carries one,
calibrated on faces that are not in the detection test set (``assets/detectors/<name>.json``).

Default detector: :data:`DEFAULT_DETECTOR` (YuNet-s, chosen by measurement on afw_photos; see
docs/results/README.md, "Face detector"). :func:`load_detector` opens any bundled one by name.

The cascade evaluator is numpy (OpenCV 5 dropped ``CascadeClassifier`` from its main module) and
follows OpenCV's ``detectMultiScale``: an image pyramid, windows of the cascade's size, variance
normalisation, stump stages and ``groupRectangles``. Boxes are ``(x, y, w, h)`` in the kernels'
continuous pixel coordinates (the centre of pixel ``i`` at ``i``).
"""

from __future__ import annotations

import gzip
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from facekd.errors import FacekdError

__all__ = ["FaceDetector", "Detections", "BoxTransform", "HaarCascade", "CascadeFaceDetector",
           "YuNetDetector", "default_detector", "load_detector", "bundled_detectors", "nms",
           "group_rectangles", "box_iou", "BUNDLED_DETECTOR", "DEFAULT_DETECTOR"]

BUNDLED_DETECTOR = "haar_frontalface.json"  # the Haar cascade's config, in facekd/assets/detectors
DEFAULT_DETECTOR = "yunet_s"                # the default detector (assets/detectors/yunet_s.json)


@dataclass
class Detections:
    """What a detector found in one image, largest face first.

    ``boxes`` float32 ``[M, 4]`` (x, y, w, h, image pixels, the detector's own box convention),
    ``scores`` float32 ``[M]``, ``keypoints`` float32 ``[M, P, 2]`` (``P = 0`` for a detector
    without keypoints; YuNet: the subject's right eye, left eye, nose tip, right and left mouth
    corners, i.e. image-left eye first on an upright face), ``rotation`` float32 ``[M]``: the
    rotation in degrees (counter-clockwise in the image, multiples of 90) of the pass that found
    the face (0 unless rotated passes are enabled); the box transform is applied in that frame."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    rotation: np.ndarray

    @classmethod
    def empty(cls, num_keypoints: int = 0) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, num_keypoints, 2), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, idx) -> "Detections":
        return Detections(self.boxes[idx], self.scores[idx], self.keypoints[idx], self.rotation[idx])

    def roll(self) -> np.ndarray:
        """Roll in degrees of each face from its eye keypoints (``atan2`` of the subject's left eye
        minus right eye; 0 = upright, positive = clockwise on screen); NaN without keypoints."""
        if self.keypoints.shape[1] < 2:
            return np.full(len(self), np.nan, np.float32)
        d = self.keypoints[:, 1] - self.keypoints[:, 0]
        return np.degrees(np.arctan2(d[:, 1], d[:, 0])).astype(np.float32)

    def landmark_boxes(self, transform: "BoxTransform | None") -> np.ndarray:
        """Boxes mapped to the tight-landmark-box convention (each in its pass's rotated frame)."""
        if transform is None or len(self) == 0:
            return self.boxes.copy()
        return transform.apply(self.boxes, rotation=self.rotation)


@runtime_checkable
class FaceDetector(Protocol):
    """``detector(image)`` with ``image`` uint8 RGB ``[H, W, 3]`` -> ``(boxes float32 [M, 4]
    (x, y, w, h), scores float32 [M])``, largest face first; ``detector.detect(image)`` -> the
    same faces as :class:`Detections` (with keypoints, ``num_keypoints`` per face).
    ``box_transform`` (may be None = identity) maps its boxes to the tight-landmark-box
    convention of facekd models."""

    box_transform: "BoxTransform | None"
    num_keypoints: int

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def detect(self, image: np.ndarray) -> Detections: ...


class BoxOnlyDetector:
    """Mixin for detectors without keypoints: ``detect`` wraps ``__call__``."""

    num_keypoints = 0

    def detect(self, image: np.ndarray) -> Detections:
        boxes, scores = self(image)
        n = len(boxes)
        return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                          np.zeros((n, 0, 2), np.float32), np.zeros(n, np.float32))


# ------------------------------------------------------------------------------------------------
# Box conventions
# ------------------------------------------------------------------------------------------------

def _boxes(boxes, name: str = "boxes") -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise FacekdError(f"{name} must be [M, 4] (x, y, w, h), got shape {list(np.shape(boxes))}")
    return b


@dataclass(frozen=True)
class BoxTransform:
    """Linear map between two box conventions: the centre moves by ``(dx * w, dy * h)`` and the
    size scales by ``(sw, sh)``, all relative to the source box."""

    dx: float = 0.0
    dy: float = 0.0
    sw: float = 1.0
    sh: float = 1.0

    def __post_init__(self) -> None:
        vals = (self.dx, self.dy, self.sw, self.sh)
        if not all(math.isfinite(v) for v in vals) or self.sw <= 0 or self.sh <= 0:
            raise FacekdError(f"invalid box transform {vals}: values must be finite, scales > 0")

    def apply(self, boxes, rotation=None) -> np.ndarray:
        """Boxes ``[M, 4]`` (or one ``[4]``) -> float32 boxes of the same shape.

        ``rotation`` (degrees, multiples of 90, scalar or ``[M]``): the boxes are of faces whose
        up direction is rotated by that angle counter-clockwise in the image (see
        :class:`Detections`); the map is applied in the face's frame (offsets turned, width and
        height swapped at 90 and 270), so the result is the axis-aligned landmark box."""
        b = _boxes(boxes)
        rot = np.zeros(len(b)) if rotation is None else np.broadcast_to(np.asarray(rotation, np.float64), (len(b),))
        q = np.round(rot / 90.0)
        if not np.allclose(q * 90.0, rot):
            raise FacekdError(f"box transform rotation must be a multiple of 90 degrees, got {rotation}")
        q = q.astype(np.int64) % 4
        side = (q % 2) == 1                          # the face's width runs along image y
        fw = np.where(side, b[:, 3], b[:, 2])        # face-frame width and height
        fh = np.where(side, b[:, 2], b[:, 3])
        ox, oy = self.dx * fw, self.dy * fh          # offset in the face frame (x right, y down)
        # face frame -> image: rotation by q * 90 deg counter-clockwise on screen (y down)
        c = np.array([1, 0, -1, 0])[q]
        s = np.array([0, 1, 0, -1])[q]
        ix, iy = c * ox + s * oy, -s * ox + c * oy
        cx = b[:, 0] + b[:, 2] / 2 + ix
        cy = b[:, 1] + b[:, 3] / 2 + iy
        w_f, h_f = fw * self.sw, fh * self.sh
        w, h = np.where(side, h_f, w_f), np.where(side, w_f, h_f)
        out = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)
        return out[0] if np.ndim(boxes) == 1 else out

    def inverse(self) -> "BoxTransform":
        return BoxTransform(-self.dx / self.sw, -self.dy / self.sh, 1.0 / self.sw, 1.0 / self.sh)

    def to_dict(self) -> dict[str, float]:
        return {"dx": self.dx, "dy": self.dy, "sw": self.sw, "sh": self.sh}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BoxTransform":
        try:
            return cls(float(d["dx"]), float(d["dy"]), float(d["sw"]), float(d["sh"]))
        except (KeyError, TypeError, ValueError) as e:
            raise FacekdError(f"box transform needs numeric dx, dy, sw, sh; got {dict(d)!r} ({e})") from None

    @classmethod
    def fit(cls, src, dst) -> "BoxTransform":
        """Robust fit (per-parameter medians) of the map taking boxes ``src [N, 4]`` to ``dst``."""
        s, d = _boxes(src, "src"), _boxes(dst, "dst")
        if len(s) != len(d) or len(s) == 0:
            raise FacekdError(f"fit needs as many src as dst boxes (>= 1), got {len(s)} and {len(d)}")
        if (s[:, 2:] <= 0).any() or (d[:, 2:] <= 0).any():
            raise FacekdError("fit: box sizes must be > 0")
        dx = ((d[:, 0] + d[:, 2] / 2) - (s[:, 0] + s[:, 2] / 2)) / s[:, 2]
        dy = ((d[:, 1] + d[:, 3] / 2) - (s[:, 1] + s[:, 3] / 2)) / s[:, 3]
        return cls(float(np.median(dx)), float(np.median(dy)), float(np.median(d[:, 2] / s[:, 2])),
                   float(np.median(d[:, 3] / s[:, 3])))


def _resolve_box_transform(box_transform, cfg: Mapping[str, Any]) -> "BoxTransform | None":
    """A detector's ``box_transform`` argument: a BoxTransform, None, or ``"bundled"`` (its config's)."""
    if box_transform == "bundled":
        return BoxTransform.from_dict(cfg["box_transform"]) if cfg.get("box_transform") else None
    if isinstance(box_transform, str):
        raise FacekdError(f"box_transform must be a BoxTransform, None or 'bundled', got {box_transform!r}")
    return box_transform


def box_iou(a, b) -> np.ndarray:
    """IoU matrix ``[len(a), len(b)]`` of ``(x, y, w, h)`` boxes."""
    A, B = _boxes(a, "a"), _boxes(b, "b")
    x0 = np.maximum(A[:, None, 0], B[None, :, 0])
    y0 = np.maximum(A[:, None, 1], B[None, :, 1])
    x1 = np.minimum((A[:, 0] + A[:, 2])[:, None], (B[:, 0] + B[:, 2])[None])
    y1 = np.minimum((A[:, 1] + A[:, 3])[:, None], (B[:, 1] + B[:, 3])[None])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (A[:, 2] * A[:, 3])[:, None] + (B[:, 2] * B[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


# ------------------------------------------------------------------------------------------------
# Haar cascade (OpenCV XML, stump stages)
# ------------------------------------------------------------------------------------------------

@dataclass
class _Stage:
    threshold: float
    feature: np.ndarray    # int [n] feature index of each stump
    node_thr: np.ndarray   # float [n]
    left: np.ndarray       # float [n] leaf value when feature < threshold
    right: np.ndarray      # float [n]


class HaarCascade:
    """An OpenCV Haar cascade (``opencv-cascade-classifier`` XML, BOOST stages of stumps, upright
    features) evaluated with numpy."""

    def __init__(self, window: tuple[int, int], stages: list[_Stage], rects: np.ndarray,
                 weights: np.ndarray, source: str = ""):
        self.window = window          # (w, h)
        self.stages = stages
        self.rects = rects            # int [F, 3, 4] (x, y, w, h), zero-size for absent rects
        self.weights = weights        # float [F, 3] (0 for absent rects)
        self.source = source
        self._offsets: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.dense_stages = 3  # stages evaluated for every window with strided views (speed only)

    @classmethod
    def read(cls, path: str | Path) -> "HaarCascade":
        """Read an OpenCV cascade XML (optionally gzip-compressed, ``.gz``)."""
        p = Path(path)
        try:
            data = p.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
        except OSError as e:
            raise FacekdError(f"cannot read cascade {p}: {e}") from None
        return cls.from_xml(data, source=str(p))

    @classmethod
    def from_xml(cls, data: bytes | str, source: str = "cascade") -> "HaarCascade":
        def bad(msg: str) -> FacekdError:
            return FacekdError(f"{source}: unsupported or malformed cascade: {msg}")

        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise bad(f"XML error {e}") from None
        c = root.find("cascade")
        if c is None:
            raise bad("no <cascade> element (old-format cascades are not supported)")
        if (c.findtext("stageType") or "").strip() != "BOOST":
            raise bad(f"stageType {c.findtext('stageType')!r}, expected BOOST")
        if (c.findtext("featureType") or "").strip() != "HAAR":
            raise bad(f"featureType {c.findtext('featureType')!r}, expected HAAR")
        try:
            window = (int(c.findtext("width")), int(c.findtext("height")))
        except (TypeError, ValueError):
            raise bad("missing <width>/<height>") from None
        stages = []
        for st in c.find("stages") or []:
            feats, thrs, lefts, rights = [], [], [], []
            for wc in st.find("weakClassifiers") or []:
                nodes = (wc.findtext("internalNodes") or "").split()
                leaves = (wc.findtext("leafValues") or "").split()
                if len(nodes) != 4 or len(leaves) != 2 or nodes[:2] != ["0", "-1"]:
                    raise bad("only stump weak classifiers (one node, two leaves) are supported")
                feats.append(int(nodes[2]))
                thrs.append(float(nodes[3]))
                lefts.append(float(leaves[0]))
                rights.append(float(leaves[1]))
            stages.append(_Stage(float(st.findtext("stageThreshold")), np.asarray(feats, np.int64),
                                 np.asarray(thrs, np.float32).astype(np.float64),
                                 np.asarray(lefts, np.float32).astype(np.float64),
                                 np.asarray(rights, np.float32).astype(np.float64)))
        features = list(c.find("features") or [])
        if not stages or not features:
            raise bad("no stages or no features")
        rects = np.zeros((len(features), 3, 4), np.int64)
        weights = np.zeros((len(features), 3), np.float64)
        for i, f in enumerate(features):
            if (f.findtext("tilted") or "0").strip() not in ("0", ""):
                raise bad("tilted Haar features are not supported")
            rs = list(f.find("rects") or [])
            if not 1 <= len(rs) <= 3:
                raise bad(f"feature {i} has {len(rs)} rects (1 to 3 supported)")
            for j, r in enumerate(rs):
                v = (r.text or "").split()
                if len(v) != 5:
                    raise bad(f"feature {i}: rect {v}")
                rects[i, j] = [int(v[0]), int(v[1]), int(v[2]), int(v[3])]
                weights[i, j] = float(np.float32(float(v[4].rstrip("."))))
        used = np.concatenate([s.feature for s in stages])
        if used.min() < 0 or used.max() >= len(features):
            raise bad("a weak classifier refers to a missing feature")
        ww, wh = window
        if ((rects[..., 0] + rects[..., 2] > ww) | (rects[..., 1] + rects[..., 3] > wh)).any():
            raise bad("a feature rect leaves the window")
        return cls(window, stages, rects, weights, source)

    # -- evaluation ----------------------------------------------------------------------------
    def scan(self, gray: np.ndarray, *, scale_factor: float = 1.1, min_size: int = 0,
             max_size: int | None = None) -> np.ndarray:
        """Raw (ungrouped) detections int ``[N, 4]`` (x, y, w, h, pixel units of ``gray``)."""
        import cv2

        H, W = gray.shape
        ww, wh = self.window
        max_w = W if max_size is None else min(W, max_size)
        max_h = H if max_size is None else min(H, max_size)
        scales: list[float] = []
        f = 1.0
        while True:  # OpenCV's scale list (factors kept in float32 like OpenCV)
            sw_, sh_ = _cv_round(ww * f), _cv_round(wh * f)
            if sw_ > max_w or sh_ > max_h:
                break
            if sw_ >= min_size and sh_ >= min_size:
                scales.append(float(np.float32(f)))
            f *= scale_factor
        # every scaled image's integral goes into one canvas of a common row stride (as OpenCV
        # does), so that a feature corner is one constant offset from a window's base index
        levels = []
        for s in scales:
            sz = (_cv_round(W / s), _cv_round(H / s))
            if sz[0] < ww or sz[1] < wh:
                break
            levels.append((s, sz))
        if not levels:
            return np.zeros((0, 4), np.int64)
        stride = max(sz[0] for _, sz in levels) + 1
        rows = sum(sz[1] + 1 for _, sz in levels)
        S = np.zeros((rows, stride), np.float64)
        S2 = np.zeros((rows, stride), np.float64)
        bases, xs_all, ys_all, scale_of = [], [], [], []
        row = 0
        for s, sz in levels:
            img = gray if sz == (W, H) else cv2.resize(gray, sz, interpolation=cv2.INTER_LINEAR_EXACT)
            ii, ii2 = cv2.integral2(img, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
            S[row:row + sz[1] + 1, :sz[0] + 1] = ii
            S2[row:row + sz[1] + 1, :sz[0] + 1] = ii2
            step = 1 if s >= 2 else 2
            ys, xs = np.meshgrid(np.arange(0, sz[1] - wh + 1, step), np.arange(0, sz[0] - ww + 1, step),
                                 indexing="ij")
            bases.append((row + ys.ravel()) * stride + xs.ravel())
            xs_all.append(xs.ravel())
            ys_all.append(ys.ravel())
            scale_of.append(np.full(xs.size, s))
            row += sz[1] + 1
        p = np.concatenate(bases)
        # variance normalisation over the window shrunk by one pixel (OpenCV's normrect)
        nw, nh = ww - 2, wh - 2
        a = p + stride + 1
        Sf, S2f = S.ravel(), S2.ravel()
        vsum = Sf[a + nh * stride + nw] - Sf[a + nw] - Sf[a + nh * stride] + Sf[a]
        vsq = S2f[a + nh * stride + nw] - S2f[a + nw] - S2f[a + nh * stride] + S2f[a]
        nf = nw * nh * vsq - vsum * vsum
        nf = np.where(nf > 0, np.sqrt(np.where(nf > 0, nf, 1.0)), 1.0)
        # the first stages see most windows: evaluate them densely, per level, with strided views
        # of the integral (no gathers); the rest only at the surviving windows
        alive_mask = np.ones(p.size, bool)
        dense = self.stages[:self.dense_stages]
        row = pos = 0
        for s, sz in levels:
            step = 1 if s >= 2 else 2
            ny, nx = (sz[1] - wh) // step + 1, (sz[0] - ww) // step + 1
            block = S[row:row + sz[1] + 1]
            nf_l = nf[pos:pos + ny * nx].reshape(ny, nx)
            mask = alive_mask[pos:pos + ny * nx].reshape(ny, nx)
            for stage in dense:
                val_sum = np.zeros((ny, nx))
                for fi, thr, lv, rv in zip(stage.feature, stage.node_thr, stage.left, stage.right):
                    v = np.zeros((ny, nx))
                    for (rx, ry, rw, rh), wgt in zip(self.rects[fi], self.weights[fi]):
                        if wgt == 0:
                            continue
                        ys0, ys1 = slice(ry, ry + ny * step, step), slice(ry + rh, ry + rh + ny * step, step)
                        xs0, xs1 = slice(rx, rx + nx * step, step), slice(rx + rw, rx + rw + nx * step, step)
                        v += wgt * (block[ys1, xs1] - block[ys0, xs1] - block[ys1, xs0] + block[ys0, xs0])
                    val_sum += np.where(v < thr * nf_l, lv, rv)
                mask &= val_sum >= stage.threshold
            row += sz[1] + 1
            pos += ny * nx
        alive = np.flatnonzero(alive_mask)
        # gathers on 32-bit integers when exact (half the memory traffic of float64)
        small = Sf.size < 2 ** 31 and Sf.max() < 2 ** 31
        Sg = Sf.astype(np.int32) if small else Sf
        pg = p.astype(np.int32) if small else p
        for stage in self.stages[len(dense):]:
            if alive.size == 0:
                break
            offs, coef = self._stage_offsets(stage, stride)   # [n, 12]
            n = len(stage.feature)
            keep = np.empty(alive.size, bool)
            chunk = max(1, 4_000_000 // (12 * n))
            for i0 in range(0, alive.size, chunk):
                idx = alive[i0:i0 + chunk]
                ix = pg[idx][:, None] + offs.reshape(1, -1).astype(pg.dtype)
                g = Sg[ix].reshape(len(idx), n, 12)
                val = np.einsum("mnk,nk->mn", g, coef)
                leaf = np.where(val < stage.node_thr[None] * nf[idx][:, None], stage.left[None],
                                stage.right[None])
                keep[i0:i0 + chunk] = leaf.sum(1) >= stage.threshold
            alive = alive[keep]
        if alive.size == 0:
            return np.zeros((0, 4), np.int64)
        sc = np.concatenate(scale_of)[alive]
        xs = np.concatenate(xs_all)[alive]
        ys = np.concatenate(ys_all)[alive]
        out = np.stack([_cv_round(xs * sc), _cv_round(ys * sc), _cv_round(ww * sc), _cv_round(wh * sc)],
                       axis=1)
        return out.astype(np.int64)

    def _stage_offsets(self, stage: _Stage, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Corner offsets ``[n, 12]`` (3 rects x tl, tr, bl, br) from a window's base index for a
        row stride, and the matching coefficients (rect weight x +1/-1/-1/+1)."""
        key = (id(stage), stride)
        hit = self._offsets.get(key)
        if hit is None:
            r = self.rects[stage.feature]          # [n, 3, 4]
            x0, y0 = r[..., 0], r[..., 1]
            x1, y1 = x0 + r[..., 2], y0 + r[..., 3]
            offs = np.stack([y0 * stride + x0, y0 * stride + x1, y1 * stride + x0, y1 * stride + x1],
                            axis=-1).reshape(len(r), 12)
            coef = (self.weights[stage.feature][..., None] * np.array([1.0, -1.0, -1.0, 1.0])).reshape(len(r), 12)
            if len(self._offsets) > 4 * len(self.stages):
                self._offsets.clear()
            hit = self._offsets[key] = (offs, coef)
        return hit


def _cv_round(v):
    """OpenCV's cvRound: round half to even."""
    r = np.rint(v)
    return int(r) if np.ndim(r) == 0 else r.astype(np.int64)


def group_rectangles(rects, min_neighbors: int = 3, eps: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles``: cluster similar rectangles, average each cluster, drop
    clusters of ``<= min_neighbors`` members and small ones inside bigger ones. Returns
    ``(boxes int [G, 4], member counts [G])``."""
    r = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    n = len(r)
    if n == 0:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64)
    if min_neighbors <= 0:  # OpenCV: no grouping at all
        return r.copy(), np.ones(n, np.int64)
    # similarity (OpenCV SimilarRects) -> union-find partition
    mw = np.minimum(r[:, None, 2], r[None, :, 2])
    mh = np.minimum(r[:, None, 3], r[None, :, 3])
    delta = eps * (mw + mh) * 0.5
    sim = ((np.abs(r[:, None, 0] - r[None, :, 0]) <= delta) & (np.abs(r[:, None, 1] - r[None, :, 1]) <= delta)
           & (np.abs((r[:, 0] + r[:, 2])[:, None] - (r[:, 0] + r[:, 2])[None]) <= delta)
           & (np.abs((r[:, 1] + r[:, 3])[:, None] - (r[:, 1] + r[:, 3])[None]) <= delta))
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(sim, 1))):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[rj] = ri
    roots = np.array([find(i) for i in range(n)])
    labels = {}
    cls = np.array([labels.setdefault(int(x), len(labels)) for x in roots])
    nclasses = len(labels)
    counts = np.bincount(cls, minlength=nclasses)
    sums = np.zeros((nclasses, 4), np.float64)
    np.add.at(sums, cls, r)
    avg = _cv_round(sums / counts[:, None])  # saturate_cast<int> rounds half to even as well
    keep = [i for i in range(nclasses) if counts[i] > min_neighbors]
    out, out_n = [], []
    for i in keep:
        r1, n1 = avg[i], counts[i]
        inside = False
        for j in keep:
            if j == i:
                continue
            r2, n2 = avg[j], counts[j]
            dx, dy = _cv_round(r2[2] * eps), _cv_round(r2[3] * eps)
            if (r1[0] >= r2[0] - dx and r1[1] >= r2[1] - dy and r1[0] + r1[2] <= r2[0] + r2[2] + dx
                    and r1[1] + r1[3] <= r2[1] + r2[3] + dy and (n2 > max(3, n1) or n1 < 3)):
                inside = True
                break
        if not inside:
            out.append(r1)
            out_n.append(n1)
    if not out:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64)
    return np.stack(out).astype(np.int64), np.asarray(out_n, np.int64)


# ------------------------------------------------------------------------------------------------
# The detector
# ------------------------------------------------------------------------------------------------

def _asset(*parts: str):
    return resources.files("facekd").joinpath("assets", *parts)


@lru_cache(maxsize=4)
def _bundled_cascade(name: str) -> HaarCascade:
    f = _asset("detectors", name)
    if not f.is_file():
        raise FacekdError(f"bundled cascade {name} is missing from this installation")
    data = f.read_bytes()
    return HaarCascade.from_xml(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data,
                                source=f"facekd/assets/detectors/{name}")


def _bundled_config(name: str = BUNDLED_DETECTOR) -> dict[str, Any]:
    f = _asset("detectors", name)
    if not f.is_file():
        raise FacekdError(f"bundled detector config {name} is missing from this installation")
    return json.loads(f.read_text(encoding="utf-8"))


class CascadeFaceDetector(BoxOnlyDetector):
    """Haar-cascade face detector (offline; OpenCV's frontal-face cascade by default).

    ``image``: uint8 RGB ``[H, W, 3]`` or gray ``[H, W]``. Returns ``(boxes float32 [M, 4],
    scores float32 [M])``, largest face first; the score is the number of raw windows merged
    into the box (OpenCV's neighbour count). Images whose longer side exceeds ``max_side`` are
    scanned downscaled (boxes are returned in the original pixels). ``box_transform``: the
    calibrated map to facekd's landmark-box convention (bundled with the default cascade).
    """

    kind = "haar"

    def __init__(self, cascade: HaarCascade | str | Path | None = None, *, scale_factor: float | None = None,
                 min_neighbors: int | None = None, min_size: int | None = None, max_side: int | None = None,
                 box_transform: BoxTransform | None | str = "bundled"):
        cfg = _bundled_config()
        params = dict(cfg["params"])
        if cascade is None:
            cascade = _bundled_cascade(cfg["cascade"])
        elif not isinstance(cascade, HaarCascade):
            cascade = HaarCascade.read(cascade)
            if box_transform == "bundled":
                box_transform = None  # the calibration belongs to the bundled cascade
        self.cascade = cascade
        self.scale_factor = float(params["scale_factor"] if scale_factor is None else scale_factor)
        self.min_neighbors = int(params["min_neighbors"] if min_neighbors is None else min_neighbors)
        self.min_size = int(params["min_size"] if min_size is None else min_size)
        ms = params.get("max_side") if max_side is None else max_side
        self.max_side = None if ms in (None, 0) else int(ms)
        if not self.scale_factor > 1.0:
            raise FacekdError(f"scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_size < 0:
            raise FacekdError("min_neighbors and min_size must be >= 0")
        if self.max_side is not None and self.max_side < max(cascade.window):
            raise FacekdError(f"max_side must be >= the cascade window {cascade.window}, got {self.max_side}")
        self.box_transform = _resolve_box_transform(box_transform, cfg)
        self.config = cfg

    def params(self) -> dict[str, Any]:
        return {"scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors,
                "min_size": self.min_size, "max_side": self.max_side}

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        img = np.asarray(image)
        if img.dtype != np.uint8:
            raise FacekdError(f"detector: image must be uint8, got {img.dtype}")
        if img.ndim == 3 and img.shape[2] == 3:
            gray = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        elif img.ndim == 2:
            gray = np.ascontiguousarray(img)
        else:
            raise FacekdError(f"detector: image must be [H, W, 3] RGB or [H, W] gray, got shape {list(img.shape)}")
        H, W = gray.shape
        r = 1.0
        if self.max_side is not None and max(H, W) > self.max_side:
            r = self.max_side / max(H, W)
            gray = cv2.resize(gray, (max(1, _cv_round(W * r)), max(1, _cv_round(H * r))),
                              interpolation=cv2.INTER_AREA)
        raw = self.cascade.scan(gray, scale_factor=self.scale_factor,
                                min_size=max(0, int(math.floor(self.min_size * r))))
        boxes, counts = group_rectangles(raw, self.min_neighbors, 0.2)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        # an integer window [x, x + w) covers pixel centres x .. x+w-1, i.e. edges x - 0.5 and
        # x + w - 0.5; on a grid downscaled by r, edge e maps to (e + 0.5) / r - 0.5
        b = boxes.astype(np.float64)
        b[:, :2] = b[:, :2] / r - 0.5
        b[:, 2:] = b[:, 2:] / r
        order = np.argsort(-(b[:, 2] * b[:, 3]), kind="stable")
        return b[order].astype(np.float32), counts[order].astype(np.float32)


# ------------------------------------------------------------------------------------------------
# YuNet (CNN, boxes + 5 keypoints)
# ------------------------------------------------------------------------------------------------

def nms(boxes, scores, iou_threshold: float, top_k: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression: indices (int64, highest score first) of the boxes kept
    when every box overlapping a higher-scored kept one by IoU > ``iou_threshold`` is dropped.
    ``top_k``: only the ``top_k`` highest-scored boxes enter (None = all)."""
    b = _boxes(boxes)
    s = np.asarray(scores, np.float64).reshape(-1)
    if len(s) != len(b):
        raise FacekdError(f"nms: {len(b)} boxes but {len(s)} scores")
    if not 0.0 <= iou_threshold <= 1.0:
        raise FacekdError(f"nms: iou_threshold must be in [0, 1], got {iou_threshold}")
    order = np.argsort(-s, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    x0, y0 = b[:, 0], b[:, 1]
    x1, y1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    area = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        h = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = w * h
        union = area[i] + area[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def _rgb_image(image, who: str) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise FacekdError(f"{who}: image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise FacekdError(f"{who}: image must be [H, W, 3] RGB or [H, W] gray, got shape {list(img.shape)}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise FacekdError(f"{who}: empty image of shape {list(img.shape)}")
    return img


def _unrotate_points(p: np.ndarray, k: int, H: int, W: int) -> np.ndarray:
    """Points ``[..., 2]`` of ``np.rot90(image, k)`` (image ``H x W``) -> points of the image."""
    x, y = p[..., 0], p[..., 1]
    if k == 1:
        return np.stack([W - 1 - y, x], axis=-1)
    if k == 2:
        return np.stack([W - 1 - x, H - 1 - y], axis=-1)
    if k == 3:
        return np.stack([y, H - 1 - x], axis=-1)
    return p


class YuNetDetector:
    """YuNet face detector (:class:`facekd.models.yunet.YuNet`, weights bundled as safetensors):
    boxes, scores and 5 keypoints per face.

    Pre-processing (the resize policy): images whose longer side exceeds ``max_side`` are
    downscaled (``cv2.INTER_AREA``) so that it equals ``max_side``; smaller images run at their own
    size (never upscaled); the result is zero-padded on the right and bottom to a multiple of 32
    (OpenCV ``FaceDetectorYN``'s padding), or into the fixed canvas of an exported ``.pte``
    (``runner``). Post-processing: rows with ``score >= score_threshold`` (``sqrt(cls * obj)``),
    the ``top_k`` best into greedy NMS at IoU ``nms_threshold``; boxes and keypoints are mapped back
    to the image's pixel-centre coordinates. Defaults come from the bundled JSON of the variant
    (``assets/detectors/yunet_s.json``: score 0.85, NMS 0.3, max side 640, top_k 750).

    ``rotations``: extra passes on the image turned by these face angles (degrees, 90/180/270,
    counter-clockwise): with ``rotate="fallback"`` they run only when the upright pass finds no
    face, with ``"always"`` always; detections of all passes are merged by NMS (an upright YuNet
    finds faces rolled up to about +-45 degrees, see docs/results.md). ``fallback_threshold``
    (e.g. 0.7; None: off): on an image where no pass has a detection at ``score_threshold``, the
    detections down to this score count (turned and small faces score lower; one strong face in
    the image keeps its weak neighbours out). ``runner``: a callable
    ``[1, 3, H, W] float tensor -> [1, A, 15]`` (e.g. :class:`facekd.export.executorch.PteModel`
    of an exported detector) used instead of the eager module.
    """

    kind = "yunet"
    num_keypoints = 5

    def __init__(self, name: str = DEFAULT_DETECTOR, *, score_threshold: float | None = None,
                 nms_threshold: float | None = None, max_side: int | None = None, top_k: int | None = None,
                 rotations: Sequence[int] = (), rotate: str = "fallback",
                 fallback_threshold: float | None = None,
                 box_transform: "BoxTransform | None | str" = "bundled", runner=None,
                 config: Mapping[str, Any] | None = None):
        cfg = dict(config) if config is not None else _bundled_config(f"{name}.json")
        if cfg.get("kind") != self.kind:
            raise FacekdError(f"detector config {name!r} is not a YuNet config (kind {cfg.get('kind')!r})")
        p = dict(cfg["params"])
        self.name = name
        self.score_threshold = float(p["score_threshold"] if score_threshold is None else score_threshold)
        self.nms_threshold = float(p["nms_threshold"] if nms_threshold is None else nms_threshold)
        self.max_side = int(p["max_side"] if max_side is None else max_side)
        self.top_k = int(p["top_k"] if top_k is None else top_k)
        if not 0.0 <= self.score_threshold <= 1.0:
            raise FacekdError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if not 0.0 <= self.nms_threshold <= 1.0:
            raise FacekdError(f"nms_threshold must be in [0, 1], got {self.nms_threshold}")
        if self.max_side < 32:
            raise FacekdError(f"max_side must be >= 32, got {self.max_side}")
        if self.top_k < 1:
            raise FacekdError(f"top_k must be >= 1, got {self.top_k}")
        rots = [int(r) % 360 for r in rotations]
        if any(r % 90 for r in rots) or 0 in rots:
            raise FacekdError(f"rotations must be 90, 180 or 270 (degrees), got {list(rotations)}")
        if rotate not in ("fallback", "always"):
            raise FacekdError(f"rotate must be 'fallback' or 'always', got {rotate!r}")
        self.rotations, self.rotate = tuple(dict.fromkeys(rots)), rotate
        if fallback_threshold is not None and not 0.0 <= float(fallback_threshold) <= 1.0:
            raise FacekdError(f"fallback_threshold must be in [0, 1], got {fallback_threshold}")
        self.fallback_threshold = None if fallback_threshold is None else float(fallback_threshold)
        self.box_transform = _resolve_box_transform(box_transform, cfg)
        self.config = cfg
        self.weights = cfg["weights"]
        self._runner = runner
        self._module = None
        self.canvas = None if runner is None else tuple(int(v) for v in runner.input_shape[2:])

    def params(self) -> dict[str, Any]:
        p = {"score_threshold": self.score_threshold, "nms_threshold": self.nms_threshold,
             "max_side": self.max_side, "top_k": self.top_k}
        if self.rotations:
            p.update({"rotations": list(self.rotations), "rotate": self.rotate})
        if self.fallback_threshold is not None:
            p["fallback_threshold"] = self.fallback_threshold
        return p

    @property
    def module(self):
        """The eager torch module (loaded on first use)."""
        if self._module is None:
            self._module = _yunet_module(self.weights)
        return self._module

    # -- one pass ---------------------------------------------------------------------------------
    def _prepare(self, img: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        H, W = img.shape[:2]
        if self.canvas is not None:
            ch, cw = self.canvas
            r = min(1.0, ch / H, cw / W)
        else:
            r = min(1.0, self.max_side / max(H, W))
        if r < 1.0:
            img = cv2.resize(img, (max(1, int(round(W * r))), max(1, int(round(H * r)))),
                             interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        if self.canvas is not None:
            ph, pw = self.canvas
        else:
            ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        x = np.zeros((1, 3, ph, pw), np.float32)
        x[0, :, :h, :w] = img[:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR planes, 0..255
        return x, r

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Decoded rows ``[A, 15]`` of one pass (network-input pixels) and the resize factor. A
        ``runner`` may return the decoded rows ``[1, A, 15]`` or the raw head maps ``[1, 16, A]``
        (a program of :meth:`export_pte`), which are decoded here."""
        import torch

        from facekd.models.yunet import HEAD_CHANNELS, ROW, decode_heads

        x, r = self._prepare(image)
        with torch.no_grad():
            t = torch.from_numpy(x)
            if self._runner is None:
                y = self.module(t)
            else:
                y = torch.as_tensor(self._runner(t))
                if y.dim() == 3 and y.shape[1] == HEAD_CHANNELS and y.shape[2] != ROW:
                    y = decode_heads(y.float(), x.shape[2], x.shape[3])
        return np.asarray(y.detach().cpu().numpy(), np.float32)[0], r

    def export_pte(self, height: int = 480, width: int = 640) -> tuple[bytes, Any]:
        """ExecuTorch program (bytes) of this detector for a fixed ``height x width`` canvas
        (multiples of 32), and its :class:`facekd.export.executorch.DelegationReport`. The program
        returns the raw head maps, so every op is inside XNNPACK (the decode, threshold and NMS run
        on the host: ``YuNetDetector(runner=PteModel(data))``)."""
        import torch

        from facekd.export.executorch import lower_to_pte
        from facekd.models.yunet import DIVISOR

        if height % DIVISOR or width % DIVISOR or height < DIVISOR or width < DIVISOR:
            raise FacekdError(f"export_pte: height and width must be positive multiples of {DIVISOR}, "
                              f"got {height}x{width}")
        card = json.dumps({"model": self.name, "kind": self.kind, "output": "yunet_heads",
                           "params": self.params()}, sort_keys=True)
        return lower_to_pte(self.module.heads_module().eval(), torch.zeros(1, 3, height, width), card)

    def _pass(self, img: np.ndarray, threshold: float) -> Detections:
        rows, r = self.raw(img)
        rows = rows[rows[:, 14] >= threshold]
        if len(rows) == 0:
            return Detections.empty(self.num_keypoints)
        keep = nms(rows[:, :4], rows[:, 14], self.nms_threshold, self.top_k)
        rows = rows[keep]
        # network pixels (pixel i covers [i, i + 1)) -> image pixel centres: u / r - 0.5
        boxes = np.concatenate([rows[:, :2] / r - 0.5, rows[:, 2:4] / r], axis=1)
        kps = rows[:, 4:14].reshape(-1, self.num_keypoints, 2) / r - 0.5
        return Detections(boxes.astype(np.float32), rows[:, 14].astype(np.float32), kps.astype(np.float32),
                          np.zeros(len(rows), np.float32))

    # -- public ------------------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> Detections:
        img = _rgb_image(image, "detector")
        H, W = img.shape[:2]
        strong = self.score_threshold
        low = strong if self.fallback_threshold is None else min(strong, self.fallback_threshold)
        found = [self._pass(img, low)]
        if self.rotations and (self.rotate == "always" or not (found[0].scores >= strong).any()):
            for rot in self.rotations:
                k = (-rot // 90) % 4              # np.rot90 turns counter-clockwise
                d = self._pass(np.ascontiguousarray(np.rot90(img, k)), low)
                if len(d) == 0:
                    continue
                b = d.boxes
                corners = _unrotate_points(np.stack([b[:, :2], b[:, :2] + b[:, 2:]], axis=1), k, H, W)
                lo, hi = corners.min(axis=1), corners.max(axis=1)
                found.append(Detections(np.concatenate([lo, hi - lo], 1).astype(np.float32), d.scores,
                                        _unrotate_points(d.keypoints, k, H, W).astype(np.float32),
                                        np.full(len(d), rot, np.float32)))
        d = found[0]
        if len(found) > 1:
            all_ = Detections(*(np.concatenate([getattr(f, a) for f in found])
                                for a in ("boxes", "scores", "keypoints", "rotation")))
            d = all_.take(nms(all_.boxes, all_.scores, self.nms_threshold))
        if low < strong and (d.scores >= strong).any():  # weak rows only count on an image without a strong one
            d = d.take(np.flatnonzero(d.scores >= strong))
        order = np.argsort(-(d.boxes[:, 2] * d.boxes[:, 3]), kind="stable")  # largest first
        return d.take(order)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.detect(image)
        return d.boxes, d.scores


@lru_cache(maxsize=4)
def _yunet_module(weights: str):
    from facekd.models.yunet import YuNet

    f = _asset("detectors", weights)
    if not f.is_file():
        raise FacekdError(f"bundled detector weights {weights} are missing from this installation")
    with resources.as_file(f) as path:
        return YuNet.load(path).fuse()


def bundled_detectors() -> list[str]:
    """Names of the bundled detectors (their config JSONs in facekd/assets/detectors)."""
    d = _asset("detectors")
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".json"))


def load_detector(name: str = DEFAULT_DETECTOR, **kw):
    """A bundled detector by name (see :func:`bundled_detectors`): ``yunet_n``,
    ``yunet_s`` (default) or ``haar_frontalface`` (the old Haar cascade); ``kw`` go to its class."""
    names = bundled_detectors()
    if name not in names:
        raise FacekdError(f"unknown detector {name!r}; bundled: {', '.join(names)}")
    cfg = _bundled_config(f"{name}.json")
    for cls in (YuNetDetector, CascadeFaceDetector):
        if cfg.get("kind") == cls.kind:
            return cls(name, **kw) if cls is YuNetDetector else cls(**kw)
    raise FacekdError(f"detector config {name}.json has unknown kind {cfg.get('kind')!r}")


def default_detector():
    """The default detector (:data:`DEFAULT_DETECTOR`, YuNet-s) with its calibrated box
    transform, rotated fallback passes and the fallback threshold (cached)."""
    return _default_detector()


#: The full-image pipeline's detector settings (``default_detector``): passes at 90/180/270 degrees
#: when the upright pass finds nothing, and detections down to 0.7 on such an image (docs/results,
#: "Turned faces"). ``load_detector(name)`` gives the plain detector.
DEFAULT_ROTATIONS = (90, 180, 270)
DEFAULT_FALLBACK_THRESHOLD = 0.7


@lru_cache(maxsize=1)
def _default_detector():
    return YuNetDetector(DEFAULT_DETECTOR, rotations=DEFAULT_ROTATIONS, rotate="fallback",
                         fallback_threshold=DEFAULT_FALLBACK_THRESHOLD)


def detections_to_landmark_boxes(detector, boxes) -> np.ndarray:
    """Apply ``detector.box_transform`` (identity when it has none) to ``boxes [M, 4]``."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    t = getattr(detector, "box_transform", None)
    return t.apply(b) if (t is not None and len(b)) else b


def calibrate(detector, dataset, *, limit: int | None = None, progress: bool = True,
              inverse_for: str = "") -> dict[str, Any]:
    """Calibrate ``detector``'s boxes against the tight landmark boxes of ``dataset`` (a facekd
    loader, one face per image assumed as in ytf68).

    A ground-truth face is matched to the detection with the highest IoU among those whose centre
    lies inside the ground-truth box. Returns a dict with the fitted ``box_transform`` (detector
    box -> landmark box), the number of faces and matches and the IoU of the mapped boxes.
    """
    from tqdm import tqdm

    from facekd.data.base import box_from_points

    n = len(dataset) if limit is None else min(limit, len(dataset))
    src, dst = [], []
    for i in tqdm(range(n), desc="calibrating", unit="img", disable=not progress):
        it = dataset[i]
        gt = box_from_points(it["landmarks"])
        boxes, _ = detector(it["image"])
        j = match_detection(boxes, gt)
        if j is not None:
            src.append(boxes[j])
            dst.append(gt)
    if not src:
        raise FacekdError("calibration: the detector found none of the faces")
    t = BoxTransform.fit(np.stack(src), np.stack(dst))
    iou_raw = np.diag(box_iou(np.stack(src), np.stack(dst)))
    iou_mapped = np.diag(box_iou(t.apply(np.stack(src)), np.stack(dst)))
    return {"box_transform": t.to_dict(), "faces": n, "matched": len(src),
            "iou_raw_median": float(np.median(iou_raw)), "iou_mapped_median": float(np.median(iou_mapped)),
            "iou_mapped_p10": float(np.percentile(iou_mapped, 10))}


def match_detection(boxes: np.ndarray, gt_box: np.ndarray) -> int | None:
    """Index of the detection matching a ground-truth box (centre inside it, highest IoU), or None."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        return None
    g = np.asarray(gt_box, dtype=np.float64)
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    inside = (cx >= g[0]) & (cx <= g[0] + g[2]) & (cy >= g[1]) & (cy <= g[1] + g[3])
    if not inside.any():
        return None
    iou = box_iou(b, g)[:, 0]
    iou[~inside] = -1
    return int(np.argmax(iou))


def recall(detector, dataset, *, limit: int | None = None, iou_threshold: float = 0.5,
           progress: bool = True) -> dict[str, Any]:
    """Detection recall on a loader's faces (one per image), by two criteria: the centre of a
    detection inside the tight landmark box, and IoU >= ``iou_threshold`` between the
    ``box_transform``-mapped detection and that box. Also the mean detections per image."""
    from tqdm import tqdm

    from facekd.data.base import box_from_points

    n = len(dataset) if limit is None else min(limit, len(dataset))
    centre_hits = iou_hits = dets = 0
    for i in tqdm(range(n), desc="detecting", unit="img", disable=not progress):
        it = dataset[i]
        gt = box_from_points(it["landmarks"])
        boxes, _ = detector(it["image"])
        dets += len(boxes)
        j = match_detection(boxes, gt)
        if j is not None:
            centre_hits += 1
        mapped = detections_to_landmark_boxes(detector, boxes)
        if len(mapped) and box_iou(mapped, gt).max() >= iou_threshold:
            iou_hits += 1
    if n == 0:
        raise FacekdError("recall: the dataset is empty")
    return {"faces": n, "recall_centre": centre_hits / n, f"recall_iou{iou_threshold:g}": iou_hits / n,
            "detections_per_image": dets / n}


def write_config(path: str | Path, detector: CascadeFaceDetector, calibration: Mapping[str, Any],
                 recall_stats: Mapping[str, Any] | None = None, *, cascade_name: str,
                 notes: Sequence[str] = ()) -> Path:
    """Write a detector config JSON (scan parameters, calibrated box transform, statistics)."""
    d = {"cascade": cascade_name, "params": detector.params(),
         "box_transform": dict(calibration["box_transform"]),
         "box_convention": "detector box -> tight box of the landmarks (the crop box of facekd "
                           "models, before crop_scale)",
         "calibration": {k: v for k, v in calibration.items() if k != "box_transform"},
         "recall": dict(recall_stats or {}), "notes": list(notes)}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    return p


# ------------------------------------------------------------------------------------------------
# Photos with several faces (afw_photos): recall and unmatched detections
# ------------------------------------------------------------------------------------------------

def load_photo_boxes(folder: str | Path) -> list[tuple[Path, np.ndarray]]:
    """``faces.csv`` of a photo folder (``image,pts,x_min,y_min,x_max,y_max``, one row per face,
    e.g. ``shared/data/afw_photos``) -> ``[(image path, tight landmark boxes float32 [n, 4] (x, y,
    w, h))]`` per photo, in file order."""
    import csv

    root = Path(folder)
    f = root / "faces.csv"
    if not f.is_file():
        raise FacekdError(f"{root}: no faces.csv (image,pts,x_min,y_min,x_max,y_max)")
    photos: dict[str, list[list[float]]] = {}
    with f.open(newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            try:
                x0, y0, x1, y1 = (float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
                name = row["image"]
            except (KeyError, TypeError, ValueError):
                raise FacekdError(f"{f}: row {i + 2} is not image,pts,x_min,y_min,x_max,y_max numbers") from None
            if not (x1 > x0 and y1 > y0):
                raise FacekdError(f"{f}: row {i + 2} has an empty box")
            photos.setdefault(name, []).append([x0, y0, x1 - x0, y1 - y0])
    if not photos:
        raise FacekdError(f"{f}: no faces")
    return [(root / name, np.asarray(b, np.float32)) for name, b in photos.items()]


def match_boxes(pred, gt, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching by IoU (highest pairs first, IoU >= ``iou_threshold``).
    Returns ``(gt_matched bool [n_gt], pred_matched bool [n_pred])``."""
    p = np.asarray(pred, np.float64).reshape(-1, 4)
    g = np.asarray(gt, np.float64).reshape(-1, 4)
    gm, pm = np.zeros(len(g), bool), np.zeros(len(p), bool)
    if len(p) == 0 or len(g) == 0:
        return gm, pm
    iou = box_iou(p, g)
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(g))
        if iou[i, j] < iou_threshold:
            break
        if not pm[i] and not gm[j]:
            pm[i] = gm[j] = True
    return gm, pm


def photo_stats(detector, photos: Sequence[tuple[Path, np.ndarray]], *, iou_threshold: float = 0.5,
                score_thresholds: Sequence[float] = (), progress: bool = True, desc: str = "detector"
                ) -> dict[str, Any]:
    """Run ``detector.detect`` on every photo (one thread is the caller's business): recall at
    IoU >= ``iou_threshold`` between the ``box_transform``-mapped detections and the tight
    landmark boxes, unmatched detections per photo, seconds per photo. ``score_thresholds``: the
    same numbers for detections with scores at or above each (a YuNet detector run at a lower
    threshold gives exactly what it gives at a higher one, NMS included). Also returns the
    unmatched detections (``unmatched``: ``(photo, box, score)``) to be looked at."""
    import time

    from tqdm import tqdm

    from facekd.data.base import load_image

    faces = sum(len(g) for _, g in photos)
    thr_all = [None, *score_thresholds]
    hits = {t: 0 for t in thr_all}
    extra = {t: 0 for t in thr_all}
    unmatched, missed, times = [], [], []
    for path, gt in tqdm(photos, desc=desc, unit="photo", disable=not progress):
        img = load_image(path)
        t0 = time.perf_counter()
        d = detector.detect(img)
        times.append(time.perf_counter() - t0)
        mapped = d.landmark_boxes(getattr(detector, "box_transform", None))
        for t in thr_all:
            keep = np.ones(len(d), bool) if t is None else d.scores >= t
            gm, pm = match_boxes(mapped[keep], gt, iou_threshold)
            hits[t] += int(gm.sum())
            extra[t] += int((~pm).sum())
            if t is None:
                unmatched += [(str(path), d.boxes[keep][i].tolist(), float(d.scores[keep][i]))
                              for i in np.flatnonzero(~pm)]
                missed += [(str(path), gt[j].tolist()) for j in np.flatnonzero(~gm)]
    n = len(photos)
    out = {"photos": n, "faces": faces, "found": hits[None], f"recall_iou{iou_threshold:g}": hits[None] / faces,
           "unmatched": extra[None], "unmatched_per_photo": extra[None] / n,
           "s_per_photo_mean": float(np.mean(times)), "s_per_photo_median": float(np.median(times)),
           "sweep": [{"score_threshold": t, "found": hits[t], "recall": hits[t] / faces,
                      "unmatched_per_photo": extra[t] / n} for t in score_thresholds],
           "unmatched_detections": unmatched, "missed_faces": missed}
    return out


def rotation_stats(detector, dataset, *, iou_threshold: float = 0.5, progress: bool = True,
                   desc: str = "rotated") -> dict[str, Any]:
    """Detection on turned faces (e.g. :class:`facekd.data.rotated.RotatedFaces`, one face per
    image, ``meta["angle"]``): a face is found when a detection, mapped by ``box_transform`` in
    its pass's frame, overlaps the tight box of the turned points with IoU >= ``iou_threshold``
    (``found_iou``) or has its centre inside that box (``found_centre``); for found faces with
    keypoints, the error of the keypoint roll against the eye-corner roll of the points. Totals
    and per bin of ``|angle|`` (0-45, 45-90, 90-135, 135-180 degrees); seconds per image."""
    import time

    from tqdm import tqdm

    from facekd.data.base import box_from_points

    eyes = getattr(getattr(dataset, "scheme", None), "eye_corners", None)
    bins = (0, 45, 90, 135, 180.001)
    n = len(dataset)
    if n == 0:
        raise FacekdError("rotation_stats: the dataset is empty")
    angle = np.zeros(n)
    f_iou, f_centre = np.zeros(n, bool), np.zeros(n, bool)
    roll_err = np.full(n, np.nan)
    dets, times = 0, []
    for i in tqdm(range(n), desc=desc, unit="img", disable=not progress):
        it = dataset[i]
        angle[i] = float(it["meta"].get("angle", 0.0))
        gt = box_from_points(it["landmarks"])
        t0 = time.perf_counter()
        d = detector.detect(it["image"])
        times.append(time.perf_counter() - t0)
        dets += len(d)
        if len(d) == 0:
            continue
        mapped = d.landmark_boxes(getattr(detector, "box_transform", None))
        iou = box_iou(mapped, gt)[:, 0]
        f_iou[i] = iou.max() >= iou_threshold
        j_c = match_detection(d.boxes, gt)
        f_centre[i] = j_c is not None
        j = int(np.argmax(iou)) if f_iou[i] else j_c
        if j is not None and eyes is not None and d.keypoints.shape[1] >= 2:
            p = it["landmarks"]
            gt_roll = math.degrees(math.atan2(p[eyes[1], 1] - p[eyes[0], 1], p[eyes[1], 0] - p[eyes[0], 0]))
            roll_err[i] = abs((float(d.roll()[j]) - gt_roll + 180.0) % 360.0 - 180.0)

    def summary(sel: np.ndarray) -> dict[str, Any]:
        k = int(sel.sum())
        r = roll_err[sel & np.isfinite(roll_err)]
        return {"faces": k, "found_iou": float(f_iou[sel].mean()) if k else None,
                "found_centre": float(f_centre[sel].mean()) if k else None,
                "missed_iou": int((~f_iou[sel]).sum()),
                "roll_error_median_deg": float(np.median(r)) if len(r) else None,
                "roll_error_p90_deg": float(np.percentile(r, 90)) if len(r) else None}

    a = np.abs(angle)
    out = summary(np.ones(n, bool))
    out.update({"detections_per_image": dets / n, "s_per_image_mean": float(np.mean(times)),
                "by_angle": {f"{bins[b]:g}-{min(bins[b + 1], 180):g}": summary((a >= bins[b]) & (a < bins[b + 1]))
                             for b in range(len(bins) - 1) if ((a >= bins[b]) & (a < bins[b + 1])).any()}})
    return out
