"""Per-face latency of the deployed pipeline: crop + inference + decode, one thread.

The int8 program is the one `facekd export` ships: PT2E (XNNPACK quantizer, per-channel) lowered
to one XNNPACK delegate call — :func:`int8_program` refuses a graph that is not fully delegated,
since ops outside the delegate run in ExecuTorch's slow portable kernels and would make the
number meaningless for a phone. Timing is the best (min) and median of ``rounds`` passes over the
same faces, each pass reporting the mean time per face; several runners are timed interleaved
(round-robin) so that a shared machine's load hits them alike and their ratios stay comparable.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from facekd.errors import FacekdError



@dataclass
class Face:
    """A face to time on: the image, its dataset box (facekd's crop input) and its landmarks."""

    image: np.ndarray  # uint8 RGB [H, W, 3]
    box: np.ndarray  # (x, y, w, h)
    landmarks: np.ndarray  # [K, 2], ground truth (dlib's box is derived from them)


@dataclass
class Timing:
    """Per-face time (ms) of one runner over ``faces`` faces, ``rounds`` passes."""

    name: str
    faces: int
    rounds: int
    min_ms: float
    median_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def int8_program(module: torch.nn.Module, input_size: int, calibration: Sequence[torch.Tensor],
                 card_json: str = "{}") -> bytes:
    """PT2E int8 ExecuTorch program of ``module`` (calibrated on ``calibration`` crops [1,3,S,S]),
    fully delegated to XNNPACK (FacekdError naming the ops left outside otherwise)."""
    from facekd.export.executorch import lower_to_pte, quantize_int8

    example = torch.zeros(1, 3, input_size, input_size)
    q = quantize_int8(module.eval(), example, calibration)
    program, report = lower_to_pte(q, example, card_json)
    if not report.fully_delegated:
        raise FacekdError(f"int8 program is {report.summary()}")
    return program


def fp32_program(module: torch.nn.Module, input_size: int, card_json: str = "{}") -> bytes:
    """fp32 ExecuTorch program of ``module``, fully delegated to XNNPACK (FacekdError otherwise)."""
    from facekd.export.executorch import lower_to_pte

    program, report = lower_to_pte(module.eval(), torch.zeros(1, 3, input_size, input_size), card_json)
    if not report.fully_delegated:
        raise FacekdError(f"fp32 program is {report.summary()}")
    return program


def pipeline(infer: Callable[[torch.Tensor], torch.Tensor], card) -> Callable[[Face], np.ndarray]:
    """``face -> landmarks [K, 2]``: the crop kernel on its box, ``infer`` on the crop, the card's decode."""
    from facekd import kernels
    from facekd.models import decode_output

    codec = card.get_codec() if card.output_type == "heatmap" else None

    def run(face: Face) -> np.ndarray:
        crop, affine = kernels.crop_box(face.image, face.box, card.input_size, scale=card.crop_scale, mean=card.mean,
                                        std=card.std)
        out = infer(torch.from_numpy(np.asarray(crop, np.float32)[None]))
        pts, _ = decode_output(out, card.output_type, torch.from_numpy(np.asarray(affine, np.float32)
                                                                       .reshape(1, 2, 3)),
                               codec=codec, input_size=card.input_size)
        return np.asarray(pts)[0]
    return run


def eager_infer(module: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    module = module.eval()

    def infer(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(x)
    return infer


def calibration_crops(faces: Sequence[Face], card, limit: int = 32) -> list[torch.Tensor]:
    """Normalised crops [1,3,S,S] of up to ``limit`` faces, for int8 calibration."""
    from facekd import kernels

    out = []
    for f in list(faces)[:limit]:
        crop, _ = kernels.crop_box(f.image, f.box, card.input_size, scale=card.crop_scale, mean=card.mean,
                                   std=card.std)
        out.append(torch.from_numpy(np.asarray(crop, np.float32)[None]))
    if not out:
        raise FacekdError("no faces to calibrate on")
    return out


def load_faces(data, limit: int) -> list[Face]:
    """Up to ``limit`` (image, box) pairs spread evenly over dataset ``data`` (a path or dataset)."""
    from facekd.data import load_dataset

    ds = load_dataset(data) if isinstance(data, (str, Path)) else data
    if len(ds) == 0 or limit < 1:
        raise FacekdError(f"need at least one face (dataset has {len(ds)}, limit {limit})")
    idx = np.unique(np.linspace(0, len(ds) - 1, num=min(limit, len(ds))).round().astype(int))
    faces = []
    for i in idx:
        item = ds[int(i)]
        faces.append(Face(np.ascontiguousarray(item["image"]), np.asarray(item["box"], np.float32),
                          np.asarray(item["landmarks"], np.float32)))
    return faces


def time_per_face(runners: dict[str, Callable[[Face], Any]], faces: Sequence[Face],
                  rounds: int = 20, warmup: int = 2, progress: bool = True) -> dict[str, Timing]:
    """Interleaved timing of every runner over the same faces; ms per face."""
    from tqdm import tqdm

    if rounds < 1:
        raise FacekdError(f"rounds must be >= 1, got {rounds}")
    times: dict[str, list[float]] = {k: [] for k in runners}
    for r in tqdm(range(warmup + rounds), desc="timing", unit="round", disable=not progress, leave=False):
        for name, run in runners.items():
            t0 = time.perf_counter()
            for face in faces:
                run(face)
            if r >= warmup:
                times[name].append((time.perf_counter() - t0) * 1e3 / len(faces))
    return {k: Timing(k, len(faces), rounds, min(v), statistics.median(v)) for k, v in times.items()}


def dlib_runner() -> Callable[[Face], np.ndarray]:
    """dlib's 68-point shape predictor as a per-face runner (FacekdError when dlib is absent). Its
    box is the tight landmark box mapped to dlib's HOG-detector convention with the calibrated
    transform, as in ``facekd bench peers``; the mapping is inside the timed call (it is µs)."""
    from facekd.data.base import box_from_points
    from facekd.peers import DlibShapePredictor, dlib_box_transform

    sp = DlibShapePredictor()
    t = dlib_box_transform()
    if t is None:
        raise FacekdError("no calibrated dlib box transform in facekd/assets/peers/dlib.json")
    gt_to_dlib = t.inverse()

    def run(face: Face) -> np.ndarray:
        return sp.predict(face.image, gt_to_dlib.apply(box_from_points(face.landmarks)))
    return run


def card_json(card) -> str:
    return card.to_json() if hasattr(card, "to_json") else json.dumps(dict(card))
