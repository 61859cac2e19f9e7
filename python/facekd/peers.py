"""Peer methods for benchmarks: dlib's 68-point shape predictor (ERT, Kazemi & Sullivan 2014) and its
HOG face detector, offline (``pip install facekd[peers]``: ``dlib-bin`` and the CC0
``shape_predictor_68_face_landmarks.dat`` of ``face-recognition-models``).

dlib's 68 points are the iBUG 300-W markup in the same order, and its pixel coordinates put pixel
centres at integers, like facekd's. Its shape predictor returns whole pixels (``dlib.point``).
Boxes here are ``(x, y, w, h)`` in facekd's continuous convention; a dlib rectangle
``[left, right] x [top, bottom]`` (inclusive pixel indices) is ``(left - 0.5, top - 0.5,
right - left + 1, bottom - top + 1)``.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from facekd.detectors import BoxOnlyDetector, BoxTransform
from facekd.errors import FacekdError

__all__ = ["dlib_unavailable", "dlib_predictor_path", "DlibHogDetector", "DlibShapePredictor",
           "DLIB_PREDICTOR", "DLIB_CONFIG"]

DLIB_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
DLIB_CONFIG = "dlib.json"  # in facekd/assets/peers: calibrated HOG box -> landmark box transform
_INSTALL = "pip install 'facekd[peers]' (dlib-bin and face-recognition-models)"


def dlib_predictor_path() -> Path | None:
    """The 68-point predictor file of the ``face_recognition_models`` package, or None.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / "models" / DLIB_PREDICTOR
        if p.is_file():
            return p
    return None


def dlib_unavailable() -> str | None:
    """Why the dlib peer cannot run here (None when it can)."""
    if importlib.util.find_spec("dlib") is None:
        return f"dlib is not installed ({_INSTALL})"
    if dlib_predictor_path() is None:
        return f"{DLIB_PREDICTOR} not found (face-recognition-models is not installed; {_INSTALL})"
    return None


def _require_dlib():
    why = dlib_unavailable()
    if why:
        raise FacekdError(why)
    import dlib

    return dlib


def _rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise FacekdError(f"dlib peer: image must be uint8 RGB [H, W, 3], got {a.dtype} {list(a.shape)}")
    return np.ascontiguousarray(a)


def _config() -> dict[str, Any]:
    f = resources.files("facekd").joinpath("assets", "peers", DLIB_CONFIG)
    if not f.is_file():
        return {}
    return json.loads(f.read_text(encoding="utf-8"))


def dlib_box_transform() -> BoxTransform | None:
    """The calibrated dlib-HOG-box -> tight-landmark-box transform (None if not calibrated)."""
    d = _config().get("box_transform")
    return BoxTransform.from_dict(d) if d else None


class DlibHogDetector(BoxOnlyDetector):
    """dlib's HOG + linear SVM frontal face detector as a :class:`facekd.detectors.FaceDetector`
    (``upsample`` pyramid up-steps; scores are the SVM margins; largest face first)."""

    def __init__(self, upsample: int = 1, box_transform: BoxTransform | None | str = "bundled"):
        dlib = _require_dlib()
        self._det = dlib.get_frontal_face_detector()
        self.upsample = int(upsample)
        self.box_transform = dlib_box_transform() if box_transform == "bundled" else box_transform

    def params(self) -> dict[str, Any]:
        return {"upsample": self.upsample}

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rects, scores, _ = self._det.run(_rgb(image), self.upsample, 0.0)
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        b = np.array([[r.left() - 0.5, r.top() - 0.5, r.right() - r.left() + 1, r.bottom() - r.top() + 1]
                      for r in rects], np.float32)
        s = np.asarray(scores, np.float32)
        order = np.argsort(-(b[:, 2] * b[:, 3]), kind="stable")
        return b[order], s[order]


class DlibShapePredictor:
    """dlib's 68-point ERT shape predictor: ``predict(image, box)`` with ``box`` in dlib's
    HOG-detector convention (x, y, w, h) -> float32 ``[68, 2]`` image pixels (whole pixels)."""

    scheme_name = "ibug68"

    def __init__(self, path: str | Path | None = None):
        dlib = _require_dlib()
        p = Path(path) if path is not None else dlib_predictor_path()
        if p is None or not p.is_file():
            raise FacekdError(f"dlib shape predictor not found: {p}")
        self.path = p
        self._dlib = dlib
        self._sp = dlib.shape_predictor(str(p))

    def rectangle(self, box):
        """A dlib.rectangle (inclusive pixel indices) for a continuous (x, y, w, h) box."""
        x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
        left, top = int(round(x + 0.5)), int(round(y + 0.5))
        right, bottom = int(round(x + w - 0.5)), int(round(y + h - 0.5))
        return self._dlib.rectangle(left, top, max(right, left), max(bottom, top))

    def predict(self, image: np.ndarray, box) -> np.ndarray:
        shape = self._sp(_rgb(image), self.rectangle(box))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], np.float32)
