"""A generated, seeded rotation test set: faces of a landmark dataset turned by a random angle and
placed on a larger canvas, with the ground-truth points turned alike.

    from facekd.data import load_dataset
    from facekd.data.rotated import RotatedFaces
    rot = RotatedFaces(load_dataset("../shared/data/ytf68/test"), max_angle=90, seed=0)
    item = rot[0]   # image, landmarks, visible, box (tight box of the turned points), meta["angle"]

Angle: uniform in ``[-max_angle, max_angle]`` degrees, counter-clockwise on screen (OpenCV's
``getRotationMatrix2D`` sign), one per face, drawn from ``numpy.random.default_rng(seed)``; the same
seed gives the same set. The face's tight landmark box centre goes to the canvas centre; the
canvas is square, ``canvas_scale`` x the longer side of the source image, filled with gray
``fill`` where the source has no pixels. Points map with the same affine (pixel-centre
coordinates), unlabelled (NaN) points stay NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from facekd.errors import FacekdError


def rotate_face(image: np.ndarray, landmarks: np.ndarray, angle: float, *, canvas_scale: float = 1.6,
                fill: int = 114) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(canvas uint8 [S, S, 3], points float32 [K, 2], affine float32 [2, 3])`` of one face turned
    by ``angle`` degrees (counter-clockwise on screen) about its landmark-box centre."""
    import cv2

    from facekd.data.base import box_from_points, transform_points

    if not math.isfinite(angle):
        raise FacekdError(f"angle must be finite, got {angle}")
    if not canvas_scale > 0:
        raise FacekdError(f"canvas_scale must be > 0, got {canvas_scale}")
    img = np.asarray(image)
    H, W = img.shape[:2]
    side = int(math.ceil(canvas_scale * max(H, W)))
    x, y, w, h = (float(v) for v in box_from_points(landmarks))
    cx, cy = x + w / 2, y + h / 2
    m = cv2.getRotationMatrix2D((cx, cy), float(angle), 1.0)
    m[:, 2] += np.array([(side - 1) / 2 - cx, (side - 1) / 2 - cy])
    out = cv2.warpAffine(np.ascontiguousarray(img), m, (side, side), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill))
    return out, transform_points(landmarks, m.astype(np.float32)), m.astype(np.float32)


class RotatedFaces:
    """A dataset view (``len``, ``ds[i]`` dicts like the loaders') of ``dataset`` with every face
    turned by its seeded angle (see the module docstring)."""

    def __init__(self, dataset, *, max_angle: float = 90.0, seed: int = 0, canvas_scale: float = 1.6,
                 fill: int = 114):
        if not 0 <= max_angle <= 180:
            raise FacekdError(f"max_angle must be in [0, 180], got {max_angle}")
        self.dataset = dataset
        self.scheme = getattr(dataset, "scheme", None)
        self.max_angle, self.seed = float(max_angle), int(seed)
        self.canvas_scale, self.fill = float(canvas_scale), int(fill)
        self.angles = np.random.default_rng(self.seed).uniform(-self.max_angle, self.max_angle,
                                                               len(dataset)).astype(np.float64)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from facekd.data.base import box_from_points

        it = self.dataset[index]
        angle = float(self.angles[index])
        img, pts, m = rotate_face(it["image"], it["landmarks"], angle, canvas_scale=self.canvas_scale,
                                  fill=self.fill)
        meta = dict(it.get("meta", {}))
        meta.update({"angle": angle, "affine": m.tolist()})
        return {"image": img, "landmarks": pts, "visible": it["visible"].copy(),
                "box": box_from_points(pts), "meta": meta}
