"""High-level API: :class:`Landmarker` (landmarks on full images) and :class:`Tracker` (video).

Images are uint8 arrays in RGB order unless ``color="BGR"`` is passed (OpenCV frames), PIL images
(any mode convertible to RGB) or paths. Landmarks are float32 image coordinates in the kernels'
convention: the centre of pixel ``i`` is at ``i``, ``x`` the column, ``y`` the row.

Geometry (input size, crop scale, mean/std, codec, scheme) comes from the model card. Faces are
cropped around the tight-landmark-box convention the models are trained on; boxes from a face
detector are mapped to it with the detector's calibrated ``box_transform``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facekd.devices import torch_device
from facekd.errors import FacekdError, NoFaceFoundError

__all__ = ["Landmarker", "Tracker", "Face", "read_image", "default_model_path", "MAX_PIXELS"]

# Decompression-bomb guard: images with more pixels are refused (Pillow's own default threshold).
MAX_PIXELS = 89_478_485
DEFAULT_MODEL = "default"
# Face boxes a caller may give: a side of at least MIN_BOX_SIDE px (a smaller crop holds no
# landmarks, only interpolated pixels) and at most MAX_BOX_FACTOR x the image's longer side (a
# close-up's box may overhang the frame; a larger one is a unit or coordinate mistake).
MIN_BOX_SIDE = 4.0
MAX_BOX_FACTOR = 4.0
_COLORS = ("RGB", "BGR")
_IDENTITY = (0.0, 0.0, 1.0, 1.0)  # box transform (dx, dy, sw, sh)


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------

def read_image(image, *, color: str = "RGB", max_pixels: int | None = None) -> np.ndarray:
    """Any supported image -> contiguous uint8 RGB ``[H, W, 3]``.

    ``image``: a path (EXIF orientation applied), a PIL image (any mode Pillow converts to RGB;
    16-bit and float modes are refused), or a uint8 array ``[H, W]`` (gray), ``[H, W, 3]`` or
    ``[H, W, 4]`` whose channel order is ``color`` (``"RGB"`` or ``"BGR"``; alpha ignored).
    Raises :class:`FacekdError` naming the problem (missing or unreadable file, unsupported mode
    or dtype, more than ``max_pixels`` pixels, default :data:`MAX_PIXELS`).
    """
    if not isinstance(color, str) or color.upper() not in _COLORS:
        raise FacekdError(f"color must be 'RGB' or 'BGR', got {color!r}")
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if isinstance(image, (str, Path)):
        return _read_path(Path(image), limit)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        _check_pixels(image.size, limit, "image")
        return _pil_to_rgb(image, "image")
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, color.upper(), limit)
    raise FacekdError(f"image must be a path, a PIL image or a uint8 numpy array, got {type(image).__name__}")


def _check_pixels(size: tuple[int, int], limit: int, name: str) -> None:
    w, h = size
    if w * h > limit:
        raise FacekdError(f"{name}: image too large ({w} x {h} = {w * h} pixels exceeds the limit of "
                          f"{limit}; decompression-bomb guard)")
    if w == 0 or h == 0:
        raise FacekdError(f"{name}: empty image ({w} x {h})")


def _read_path(p: Path, limit: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not p.exists():
        raise FacekdError(f"{p}: image file not found")
    if p.is_dir():
        raise FacekdError(f"{p}: is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                _check_pixels(im.size, limit, str(p))
                im.load()
                im = ImageOps.exif_transpose(im)
                return _pil_to_rgb(im, str(p))
    except Image.DecompressionBombError as e:
        raise FacekdError(f"{p}: image too large ({e})") from None
    except UnidentifiedImageError:
        raise FacekdError(f"{p}: cannot read image (not a recognised image format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise FacekdError(f"{p}: cannot read image ({type(e).__name__}: {e})") from None


def _pil_to_rgb(im, name: str) -> np.ndarray:
    mode = im.mode
    if mode in ("I", "F") or mode.startswith("I;"):
        raise FacekdError(f"{name}: unsupported image mode {mode!r} (16-bit or float pixels); "
                          "convert it to 8-bit RGB or gray first")
    try:
        if mode != "RGB":
            if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA").convert("RGB")
            else:
                im = im.convert("RGB")
    except (ValueError, OSError) as e:
        raise FacekdError(f"{name}: unsupported image mode {mode!r} ({e})") from None
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise FacekdError(f"{name}: unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _array_to_rgb(a: np.ndarray, color: str, limit: int) -> np.ndarray:
    if a.dtype != np.uint8:
        raise FacekdError(f"image array must be uint8 (0-255), got dtype {a.dtype}; e.g. "
                          "(img * 255).clip(0, 255).astype(np.uint8) for float images in [0, 1]")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        _check_pixels((a.shape[1], a.shape[0]), limit, "image")
        return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2))
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise FacekdError(f"image array must be [H, W], [H, W, 3] or [H, W, 4], got shape {list(a.shape)}")
    _check_pixels((a.shape[1], a.shape[0]), limit, "image")
    a = a[..., :3]
    if color == "BGR":
        a = a[..., ::-1]
    return np.ascontiguousarray(a)


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------

def default_model_path() -> Path | None:
    """Directory of the bundled default model, or None when this installation has none."""
    from facekd.models.io import default_model_path as bundled

    return bundled()


def _resolve_model(model, *, device: str, threads: int | None):
    """(runner crops[N,3,S,S] tensor -> output tensor, ModelCard, description)."""
    import torch

    from facekd.card import ModelCard
    from facekd.models.io import resolve_model

    dev = torch_device(device)  # before loading anything
    path = resolve_model(model)  # the one resolver of model names and paths (CLI commands too)
    if path.suffix in (".pte", ".onnx") and dev.type != "cpu":
        raise FacekdError(f"device {device!r}: exported {path.suffix} models run on the CPU (device='cpu')")
    if path.suffix in (".pte", ".onnx"):
        from facekd.export import split_exported_card

        if path.suffix == ".pte":
            try:
                from facekd.export.executorch import PteModel
            except ImportError as e:
                raise FacekdError(f"{path}: running .pte models needs executorch ({e})") from None
            runtime = PteModel(path, threads=threads)  # sizes the pool before loading the program
        else:
            try:
                from facekd.export.onnx import OnnxModel
            except ImportError as e:  # pragma: no cover - onnxruntime missing
                raise FacekdError(f"{path}: running .onnx models needs onnxruntime ({e})") from None
            runtime = OnnxModel(path, threads=threads or 1)
        card, _ = split_exported_card(runtime.card())

        def run_single(x: torch.Tensor) -> torch.Tensor:  # exported programs take one crop
            return torch.cat([torch.as_tensor(runtime(x[i:i + 1])) for i in range(x.shape[0])])

        return run_single, card, str(path)

    from facekd.models import load_model

    module, card = load_model(path)
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    return _torch_runner(module, device, threads), card, str(path)


def _torch_runner(module, device: str, threads: int | None) -> Callable:
    import torch

    if threads is not None:
        if int(threads) < 1:
            raise FacekdError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    dev = torch_device(device)
    if isinstance(module, torch.nn.Module):
        module = module.to(dev).eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(x.to(dev))

    return run


# ------------------------------------------------------------------------------------------------
# Landmarker
# ------------------------------------------------------------------------------------------------

@dataclass
class Face:
    """One face. ``landmarks`` float32 ``[K, 2]`` image pixels; ``scores`` float32 ``[K]`` (heatmap
    peak per point, 1 for coordinate models); ``box`` float32 ``[4]`` (x, y, w, h): the
    tight-landmark-convention box the crop was taken around (before the card's ``crop_scale``);
    ``score``: mean of ``scores``. ``detector_box`` / ``detector_score``: the detection it came
    from, in the detector's own convention, when a detector found it."""

    landmarks: np.ndarray
    scores: np.ndarray
    box: np.ndarray
    score: float
    detector_box: np.ndarray | None = None
    detector_score: float | None = None
    rotation: float = 0.0  # crop rotation in degrees (trackers crop upright faces)

    def to_dict(self, decimals: int = 3) -> dict[str, Any]:
        def r(a):
            return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()

        d = {"box": r(self.box), "score": round(float(self.score), 4), "landmarks": r(self.landmarks),
             "scores": np.round(np.asarray(self.scores, dtype=np.float64), 4).tolist()}
        if self.detector_box is not None:
            d["detector_box"] = r(self.detector_box)
            d["detector_score"] = None if self.detector_score is None else float(self.detector_score)
        if self.rotation:
            d["rotation"] = round(float(self.rotation), 3)
        return d


class Landmarker:
    """Facial landmarks on full images.

    ``model``: ``"default"`` (the bundled student), a model directory / ``.safetensors`` /
    training checkpoint, or an exported ``.pte`` (ExecuTorch) / ``.onnx``. ``device``: torch device
    for torch models. ``threads``: CPU threads (sets torch's process-wide thread count).
    ``detector``: a :class:`facekd.detectors.FaceDetector`; default: the bundled YuNet-s CNN
    detector (boxes + 5 keypoints, created on first use, only when no boxes are given; the old Haar
    cascade stays available as ``facekd.detectors.load_detector("haar_frontalface")``).
    ``recrop_degrees`` / ``max_recrops``: after the first pass, a face is cropped again at the roll of its predicted eye corners when that differs from
    the crop's roll by more than ``recrop_degrees`` (at most ``max_recrops`` times; a negative
    ``recrop_degrees`` turns it off). ``turn_threshold``: a face whose mean landmark score stays below it
    is cropped again turned by 90, 180 and 270 degrees, and upright and turned in its box shrunk to 0.6x,
    and keeps the best-scoring fit (a detector that read a turned face's eyes wrongly, or boxed a turned
    face two or three times too large); ``None``: the model card's ``turn_threshold`` (measured per model,
    0.4 for a card without one), ``0`` turns it off.

    The pipeline (box mapping, roll, crop, decode, re-crop) runs in the C landmarker
    (``fk_landmarker``, ``csrc/src/landmarker.cpp``); this class supplies the network and the
    detector.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, device: str = "cpu", threads: int | None = None,
                 detector=None, recrop_degrees: float = 5.0, max_recrops: int = 2,
                 turn_threshold: float | None = None):
        runner, card, source = _resolve_model(model, device=device, threads=threads)
        self._init(runner, card, source, detector, recrop_degrees, max_recrops, turn_threshold)

    @classmethod
    def from_module(cls, module, card, *, device: str = "cpu", detector=None, recrop_degrees: float = 5.0,
                    max_recrops: int = 2, turn_threshold: float | None = None) -> "Landmarker":
        """A landmarker around an in-memory model (torch module or callable crops -> output)
        described by ``card`` (:class:`facekd.card.ModelCard` or its dict)."""
        from facekd.card import ModelCard

        if isinstance(card, dict):
            card = ModelCard.from_dict(card)
        self = cls.__new__(cls)
        self._init(_torch_runner(module, device, None), card, type(module).__name__, detector, recrop_degrees,
                   max_recrops, turn_threshold)
        return self

    def _init(self, runner, card, source: str, detector, recrop_degrees: float, max_recrops: int,
              turn_threshold: float | None) -> None:
        card.validate()
        self.card = card
        self.source = source
        self.scheme = card.get_scheme()
        self.codec = card.get_codec()
        self.input_size = int(card.input_size)
        self.crop_scale = float(card.crop_scale)
        self.num_keypoints = int(card.num_keypoints)
        self._run = runner
        self._detector = detector
        self.recrop_degrees, self.max_recrops = _real(recrop_degrees, "recrop_degrees"), int(max_recrops)
        self.turn_threshold = None if turn_threshold is None else _real(turn_threshold, "turn_threshold")
        self._core = self._handle(_core_mode("image"))

    def _handle(self, mode: int, *, detector=None, transform=_IDENTITY, loss_threshold: float = math.nan,
                min_face: float = 16.0, smooth: bool = True, min_cutoff: float = 1.0, beta: float = 0.007,
                d_cutoff: float = 1.0):
        """A C landmarker handle over this model (``mode``: image or video)."""
        from facekd import _core

        try:
            return _core.Landmarker(self.card.to_json(indent=None), self._model_fn, detector, mode, transform,
                                    self.recrop_degrees, self.max_recrops, loss_threshold, min_face, smooth,
                                    min_cutoff, beta, d_cutoff, 64, self.turn_threshold)
        except (TypeError, ValueError) as e:
            raise FacekdError(str(e)) from None

    def crop_box(self, points: np.ndarray) -> tuple[np.ndarray, float]:
        """The crop the pipeline takes around landmarks ``[K, 2]`` (finite): their tight box in the face's
        upright frame (centre in the image, width / height in that frame) and the eye roll in degrees, as
        the re-crop loop and the tracker take it (``fk_landmarker_track_box``)."""
        try:
            return self._core.track_box(np.ascontiguousarray(points, dtype=np.float32))
        except ValueError as e:
            raise FacekdError(str(e)) from None

    def __repr__(self) -> str:
        return (f"Landmarker({self.card.model}, {self.num_keypoints} points '{self.scheme.name}', "
                f"input {self.input_size}, source={self.source})")

    @property
    def detector(self):
        """The face detector used when no boxes are given (the bundled one by default)."""
        if self._detector is None:
            from facekd.detectors import default_detector

            self._detector = default_detector()
        return self._detector

    # -- public --------------------------------------------------------------------------------
    def detect(self, image, boxes=None, *, color: str = "RGB", box_convention: str = "landmarks",
               max_faces: int | None = None) -> list[Face]:
        """Landmarks of every face in ``image`` (see :func:`read_image`; arrays are RGB unless
        ``color="BGR"``). Without ``boxes`` the detector finds the faces (largest first; ``[]``
        when there is none; its eye keypoints, when it has them, give the crop's roll). ``boxes``:
        ``[M, 4]`` (x, y, w, h) in the tight-landmark-box convention, or in the detector's
        convention with ``box_convention="detector"``. All faces go through one batched forward
        pass (plus one per roll re-crop round)."""
        if box_convention not in ("landmarks", "detector"):
            raise FacekdError(f"box_convention must be 'landmarks' or 'detector', got {box_convention!r}")
        _check_max_faces(max_faces)
        img = read_image(image, color=color)
        if boxes is None:
            det = run_detector(self.detector, img)
            transform = detector_transform(self.detector)
        else:
            det = (_check_boxes(boxes), None, None)
            _check_box_sizes(det[0], img.shape)
            transform = detector_transform(self.detector) if box_convention == "detector" else _IDENTITY
        n = len(det[0]) if max_faces is None else min(int(max_faces), len(det[0]))
        if n == 0:
            return []
        r = self._process(self._core, img, det, transform, 0.0, n)
        return [_face(r, i, det if boxes is None else None) for i in range(len(r["boxes"]))]

    __call__ = detect

    def detect_one(self, image, box=None, **kw) -> Face:
        """The largest face (or the face in ``box``); :class:`NoFaceFoundError` when there is none."""
        faces = self.detect(image, None if box is None else [box], max_faces=1, **kw)
        if not faces:
            raise NoFaceFoundError("no face found in the image")
        return faces[0]

    def predict(self, image: np.ndarray, boxes, rotations: Sequence[float] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Low level: crops of an RGB uint8 image around landmark-convention ``boxes [M, 4]``
        (each rotated by ``rotations[i]`` degrees, see ``kernels.box_to_affine``), one forward
        pass, no re-crop -> (landmarks float32 ``[M, K, 2]`` image px, scores float32 ``[M, K]``)."""
        from facekd import _core

        b = _check_boxes(boxes)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise FacekdError("predict: image must be uint8 RGB [H, W, 3] (use read_image)")
        _check_box_sizes(b, image.shape)
        if len(b) == 0:  # no face: nothing to run
            return (np.zeros((0, self.num_keypoints, 2), np.float32), np.zeros((0, self.num_keypoints), np.float32))
        m = len(b)
        rot = np.zeros(m) if rotations is None else np.asarray(rotations, dtype=np.float64).reshape(-1)
        if rot.shape != (m,) or not np.isfinite(rot).all():
            raise FacekdError(f"rotations must be {m} finite angles, got {rotations!r}")
        try:
            return self._core.predict(np.ascontiguousarray(image), _core.PIXEL_FORMATS["RGB"], b,
                                      rot.astype(np.float32))
        except ValueError as e:
            raise FacekdError(str(e)) from None

    # -- internals -----------------------------------------------------------------------------
    def _process(self, handle, img: np.ndarray, det, transform, timestamp: float, capacity: int) -> dict:
        from facekd import _core

        try:
            return handle.process(img, _core.PIXEL_FORMATS["RGB"], det, transform, timestamp, capacity)
        except ValueError as e:
            raise FacekdError(str(e)) from None

    def _model_fn(self, crops: np.ndarray) -> np.ndarray:
        """The network as the C landmarker calls it: crops [m, 3, S, S] -> outputs."""
        out = self._forward(crops)
        m, k = crops.shape[0], self.num_keypoints
        h = getattr(self.codec, "heatmap_size", None)  # None: a CoordCodec (coordinate model)
        if h is not None:
            if out.ndim != 4 or out.shape != (m, k, h, h):
                raise FacekdError(f"the model returned shape {list(out.shape)}; expected heatmaps [{m}, {k}, {h}, {h}]")
        elif out.shape != (m, k, 2):
            raise FacekdError(f"the model returned shape {list(out.shape)}; expected coordinates [{m}, {k}, 2]")
        return out

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        import torch

        out = self._run(torch.from_numpy(crops))
        if hasattr(out, "detach"):
            out = out.detach().to("cpu").float().numpy()
        return np.ascontiguousarray(out, dtype=np.float32)



def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FacekdError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _core_mode(name: str) -> int:
    from facekd import _core

    return {"image": _core.MODE_IMAGE, "video": _core.MODE_VIDEO}[name]


def detector_transform(detector) -> tuple[float, float, float, float]:
    """The detector's calibrated box -> landmark-box map (dx, dy, sw, sh); identity without one."""
    t = getattr(detector, "box_transform", None)
    return _IDENTITY if t is None else (float(t.dx), float(t.dy), float(t.sw), float(t.sh))


def run_detector(detector, img: np.ndarray):
    """Run a detector -> (boxes float32 [M, 4], scores float32 [M], keypoints float32 [M, P, 2] or
    None). A :class:`facekd.detectors.FaceDetector` gives its keypoints through ``detect()``; any
    other callable returns ``(boxes, scores)`` or ``(boxes, scores, keypoints)`` (keypoints in
    YuNet order: image-left eye, image-right eye, nose, mouth corners)."""
    if callable(getattr(detector, "detect", None)):  # facekd.detectors.FaceDetector: Detections with keypoints
        d = detector.detect(img)
        out = (d.boxes, d.scores, d.keypoints if d.keypoints.shape[1] >= 2 else None)
    else:
        out = detector(img)
    boxes = np.asarray(out[0], dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(out[1], dtype=np.float32).reshape(-1)
    kps = None
    if len(out) > 2 and out[2] is not None and len(boxes):
        kps = np.asarray(out[2], dtype=np.float32).reshape(len(boxes), -1, 2)
    return boxes, scores, kps


def _face(r: dict, i: int, det) -> Face:
    j = int(r["detection_index"][i])
    has_det = det is not None and j >= 0
    return Face(r["landmarks"][i].copy(), r["scores"][i].copy(), r["boxes"][i].copy(), float(r["face_scores"][i]),
                det[0][j].copy() if has_det else None, float(det[1][j]) if has_det else None,
                rotation=float(r["rotations"][i]))


def _check_boxes(boxes) -> np.ndarray:
    try:
        b = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise FacekdError(f"boxes must be numbers [M, 4] (x, y, w, h), got {boxes!r}") from None
    if b.size == 0 and b.shape in ((0,), (0, 4)):  # [], np.zeros((0, 4)): no face
        return np.zeros((0, 4), np.float32)
    if b.ndim == 1 and b.size == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise FacekdError(f"boxes must be [M, 4] (x, y, w, h), got shape {list(b.shape)}")
    if not np.isfinite(b).all():
        raise FacekdError("boxes must be finite")
    if len(b) and not (b[:, 2:] > 0).all():
        raise FacekdError(f"box width and height must be > 0, got {b[~(b[:, 2:] > 0).all(1)].tolist()}")
    return b.astype(np.float32)


def _check_box_sizes(b: np.ndarray, image_shape) -> None:
    """FacekdError naming the first box [M, 4] smaller than MIN_BOX_SIDE px or larger than
    MAX_BOX_FACTOR x the longer side of an image of ``image_shape`` (H, W, ...)."""
    if not len(b):
        return
    h, w = int(image_shape[0]), int(image_shape[1])
    limit = MAX_BOX_FACTOR * max(h, w)
    side_min, side_max = b[:, 2:].min(1), b[:, 2:].max(1)
    for i in np.flatnonzero((side_min < MIN_BOX_SIDE) | (side_max > limit))[:1]:
        box = [round(float(v), 3) for v in b[i]]
        if side_min[i] < MIN_BOX_SIDE:
            raise FacekdError(f"face box {box} is too small: width and height must be >= {MIN_BOX_SIDE:g} px")
        raise FacekdError(f"face box {box} is too large for the {w}x{h} image: width and height must be "
                          f"<= {MAX_BOX_FACTOR:g} x {max(h, w)} = {limit:g} px")


def _check_max_faces(max_faces) -> None:
    if max_faces is None:
        return
    if isinstance(max_faces, bool) or not isinstance(max_faces, (int, np.integer)) or max_faces < 1:
        raise FacekdError(f"max_faces must be an integer >= 1 or None, got {max_faces!r}")


# ------------------------------------------------------------------------------------------------
# Tracker
# ------------------------------------------------------------------------------------------------

@dataclass
class TrackerStats:
    frames: int = 0
    faces: int = 0            # frames with a face reported
    detector_runs: int = 0    # frames on which the detector ran (first frame, after a loss)
    losses: int = 0           # tracked faces whose score fell below the threshold
    redetections: list[int] = field(default_factory=list)  # frame indices of detector runs

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "faces": self.faces, "detector_runs": self.detector_runs,
                "losses": self.losses}


class Tracker:
    """One face through a video: detect on the first frame (and after a loss), then crop each
    next frame around the previous raw landmarks (their tight box in the face's own upright frame,
    rotated by the eye-corner roll), smooth with the One-Euro filter, and declare the face lost
    when the mean landmark score drops below ``loss_threshold`` (``None``: the model card's
    ``loss_threshold``, measured per model by ``facekd bench turn``; 0.3 for a card without one).

    Smoother parameters are in pixels and seconds (``min_cutoff`` Hz, ``beta``, ``d_cutoff`` Hz);
    ``smooth=False`` returns the raw landmarks. Without timestamps, frame ``i`` is at ``i / fps``.
    A face whose box gets smaller than ``min_face`` pixels is treated as lost too. The tracking
    runs in the C landmarker (``fk_landmarker`` in video mode); this class only feeds it frames.
    """

    def __init__(self, landmarker: Landmarker, *, min_cutoff: float = 1.0, beta: float = 0.007,
                 d_cutoff: float = 1.0, smooth: bool = True, loss_threshold: float | None = None,
                 fps: float = 30.0, min_face: float = 16.0):
        if not isinstance(landmarker, Landmarker):
            raise FacekdError(f"Tracker needs a Landmarker, got {type(landmarker).__name__}")
        if loss_threshold is not None and (isinstance(loss_threshold, bool) or not isinstance(loss_threshold, (int, float))
                                           or math.isnan(loss_threshold)):
            raise FacekdError(f"loss_threshold must be a number or None, got {loss_threshold!r}")
        if not fps > 0:
            raise FacekdError(f"fps must be > 0, got {fps}")
        self.landmarker = landmarker
        self.loss_threshold = None if loss_threshold is None else float(loss_threshold)  # None: the card's (in C)
        self.fps = float(fps)
        self.min_face = float(min_face)
        self.smooth = bool(smooth)
        det = landmarker.detector
        self._last_detections = None

        def detect(img):  # called by the C tracker when it needs a detection
            self._last_detections = run_detector(det, img)
            return self._last_detections

        self._core = landmarker._handle(_core_mode("video"), detector=detect,
                                        transform=detector_transform(det),
                                        loss_threshold=math.nan if self.loss_threshold is None else self.loss_threshold,
                                        min_face=self.min_face, smooth=self.smooth, min_cutoff=min_cutoff,
                                        beta=beta, d_cutoff=d_cutoff)
        self.stats = TrackerStats()
        self._tracking = False

    @property
    def tracking(self) -> bool:
        return self._tracking

    def reset(self) -> None:
        """Forget the face (the next frame runs the detector) and the smoother state."""
        self._core.reset()
        self._tracking = False

    def update(self, frame, timestamp: float | None = None, *, color: str = "RGB") -> Face | None:
        """Process the next frame -> the face (smoothed landmarks) or None when there is none."""
        img = read_image(frame, color=color)
        index = self.stats.frames
        t = index / self.fps if timestamp is None else float(timestamp)
        self._last_detections = None
        r = self.landmarker._process(self._core, img, None, None, t, 1)
        self.stats.frames += 1
        self.stats.losses += int(r["lost"])
        if r["detector_ran"]:
            self.stats.detector_runs += 1
            self.stats.redetections.append(index)
        self._tracking = len(r["boxes"]) > 0
        if not self._tracking:
            return None
        self.stats.faces += 1
        return _face(r, 0, self._last_detections)

    def crop_box(self, points: np.ndarray) -> tuple[np.ndarray, float]:
        """The next crop for landmarks ``[K, 2]``: (box [4] in the upright face frame, roll degrees)."""
        return self.landmarker.crop_box(points)
