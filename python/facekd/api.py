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
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facekd.errors import FacekdError, NoFaceFoundError

__all__ = ["Landmarker", "Tracker", "Face", "read_image", "default_model_path", "MAX_PIXELS"]

# Decompression-bomb guard: images with more pixels are refused (Pillow's own default threshold).
MAX_PIXELS = 89_478_485
DEFAULT_MODEL = "default"
_COLORS = ("RGB", "BGR")


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
    d = resources.files("facekd").joinpath("assets", "models", DEFAULT_MODEL)
    f = d.joinpath("model.safetensors")
    if not f.is_file():
        return None
    return Path(str(d))


def _resolve_model(model, *, device: str, threads: int | None):
    """(runner crops[N,3,S,S] tensor -> output tensor, ModelCard, description)."""
    import torch

    from facekd.card import ModelCard

    if isinstance(model, str) and model == DEFAULT_MODEL:
        path = default_model_path()
        if path is None:
            raise FacekdError("the default model is not bundled with this facekd installation "
                              "(facekd/assets/models/default/model.safetensors is missing); pass a model "
                              "directory, .safetensors, checkpoint, .pte or .onnx (CLI: --model PATH)")
    elif isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            raise FacekdError(f"model not found: {path}")
    else:
        raise FacekdError(f"model must be 'default' or a path, got {type(model).__name__}")

    if path.suffix in (".pte", ".onnx"):
        from facekd.export import split_exported_card

        if path.suffix == ".pte":
            try:
                from facekd.export.executorch import PteModel, set_num_threads
            except ImportError as e:
                raise FacekdError(f"{path}: running .pte models needs executorch ({e})") from None
            runtime = PteModel(path)
            if threads:
                set_num_threads(threads)
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
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise FacekdError(f"invalid device {device!r}: {e}") from None
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
    detector (boxes + 5 keypoints; created on first use, only when no boxes are given). The old
    Haar cascade stays available as ``facekd.detectors.load_detector("haar_frontalface")``.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, device: str = "cpu", threads: int | None = None,
                 detector=None):
        runner, card, source = _resolve_model(model, device=device, threads=threads)
        self._init(runner, card, source, detector)

    @classmethod
    def from_module(cls, module, card, *, device: str = "cpu", detector=None) -> "Landmarker":
        """A landmarker around an in-memory model (torch module or callable crops -> output)
        described by ``card`` (:class:`facekd.card.ModelCard` or its dict)."""
        from facekd.card import ModelCard

        if isinstance(card, dict):
            card = ModelCard.from_dict(card)
        self = cls.__new__(cls)
        self._init(_torch_runner(module, device, None), card, type(module).__name__, detector)
        return self

    def _init(self, runner, card, source: str, detector) -> None:
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
        when there is none). ``boxes``: ``[M, 4]`` (x, y, w, h) in the tight-landmark-box
        convention, or in the detector's convention with ``box_convention="detector"``. All faces go
        through one batched forward pass."""
        from facekd.detectors import detections_to_landmark_boxes

        if box_convention not in ("landmarks", "detector"):
            raise FacekdError(f"box_convention must be 'landmarks' or 'detector', got {box_convention!r}")
        img = read_image(image, color=color)
        det_boxes = det_scores = None
        if boxes is None:
            det_boxes, det_scores = self.detector(img)
            det_boxes = np.asarray(det_boxes, dtype=np.float32).reshape(-1, 4)
            det_scores = np.asarray(det_scores, dtype=np.float32).reshape(-1)
            if max_faces is not None:
                det_boxes, det_scores = det_boxes[:max_faces], det_scores[:max_faces]
            lm_boxes = detections_to_landmark_boxes(self.detector, det_boxes)
        else:
            lm_boxes = _check_boxes(boxes)
            if box_convention == "detector":
                lm_boxes = detections_to_landmark_boxes(self.detector, lm_boxes)
            if max_faces is not None:
                lm_boxes = lm_boxes[:max_faces]
        if len(lm_boxes) == 0:
            return []
        pts, scores = self.predict(img, lm_boxes)
        faces = []
        for i in range(len(lm_boxes)):
            faces.append(Face(pts[i], scores[i], lm_boxes[i].copy(), float(scores[i].mean()),
                              None if det_boxes is None else det_boxes[i].copy(),
                              None if det_scores is None else float(det_scores[i])))
        return faces

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
        pass -> (landmarks float32 ``[M, K, 2]`` image px, scores float32 ``[M, K]``)."""
        from facekd import kernels

        b = _check_boxes(boxes)
        m, s = len(b), self.input_size
        rot = np.zeros(m) if rotations is None else np.asarray(rotations, dtype=np.float64).reshape(-1)
        if rot.shape != (m,) or not np.isfinite(rot).all():
            raise FacekdError(f"rotations must be {m} finite angles, got {rotations!r}")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise FacekdError("predict: image must be uint8 RGB [H, W, 3] (use read_image)")
        img = np.ascontiguousarray(image)
        crops = np.empty((m, 3, s, s), np.float32)
        affines = np.empty((m, 2, 3), np.float32)
        for i in range(m):
            try:
                _, affines[i] = kernels.crop_box(img, b[i], s, scale=self.crop_scale, rotation=float(rot[i]),
                                                 mean=self.card.mean, std=self.card.std, out=crops[i])
            except ValueError as e:
                raise FacekdError(f"face box {np.round(b[i], 2).tolist()} cannot be cropped from the "
                                  f"{img.shape[1]}x{img.shape[0]} image: {e}") from None
        return self._decode(self._forward(crops), affines)

    # -- internals -----------------------------------------------------------------------------
    def _forward(self, crops: np.ndarray) -> np.ndarray:
        import torch

        out = self._run(torch.from_numpy(crops))
        if hasattr(out, "detach"):
            out = out.detach().to("cpu").float().numpy()
        return np.asarray(out, dtype=np.float32)

    def _decode(self, out: np.ndarray, affines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from facekd import kernels

        m, k = affines.shape[0], self.num_keypoints
        if self.card.output_type == "heatmap":
            if out.ndim != 4 or out.shape[:2] != (m, k):
                raise FacekdError(f"the model returned shape {list(out.shape)}; expected heatmaps [{m}, {k}, h, w]")
            pts, scores = self.codec.decode(np.ascontiguousarray(out), affines)
            return pts.astype(np.float32), scores.astype(np.float32)
        if out.ndim != 3 or out.shape != (m, k, 2):
            raise FacekdError(f"the model returned shape {list(out.shape)}; expected coordinates [{m}, {k}, 2]")
        uv = out * self.input_size - 0.5  # crop-normalised (u + 0.5) / S -> crop pixels
        pts = np.stack([kernels.points_transform(np.ascontiguousarray(uv[i]), affines[i]) for i in range(m)])
        return pts.astype(np.float32), np.ones((m, k), np.float32)


def _check_boxes(boxes) -> np.ndarray:
    try:
        b = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise FacekdError(f"boxes must be numbers [M, 4] (x, y, w, h), got {boxes!r}") from None
    if b.ndim == 1 and b.size == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise FacekdError(f"boxes must be [M, 4] (x, y, w, h), got shape {list(b.shape)}")
    if not np.isfinite(b).all():
        raise FacekdError("boxes must be finite")
    if len(b) and not (b[:, 2:] > 0).all():
        raise FacekdError(f"box width and height must be > 0, got {b[~(b[:, 2:] > 0).all(1)].tolist()}")
    return b.astype(np.float32)


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
    next frame around the previous landmarks (their tight box in the face's own upright frame,
    rotated by the eye-corner roll), smooth with the One-Euro filter, and declare the face lost
    when the mean landmark score drops below ``loss_threshold``.

    Smoother parameters are in pixels and seconds (``min_cutoff`` Hz, ``beta``, ``d_cutoff`` Hz);
    ``smooth=False`` returns the raw landmarks. Without timestamps, frame ``i`` is at ``i / fps``.
    A face whose box gets smaller than ``min_face`` pixels is treated as lost too.
    """

    def __init__(self, landmarker: Landmarker, *, min_cutoff: float = 1.0, beta: float = 0.007,
                 d_cutoff: float = 1.0, smooth: bool = True, loss_threshold: float = 0.3,
                 fps: float = 30.0, min_face: float = 16.0):
        from facekd import kernels

        if not isinstance(landmarker, Landmarker):
            raise FacekdError(f"Tracker needs a Landmarker, got {type(landmarker).__name__}")
        if not isinstance(loss_threshold, (int, float)) or math.isnan(loss_threshold):
            raise FacekdError(f"loss_threshold must be a number, got {loss_threshold!r}")
        if not fps > 0:
            raise FacekdError(f"fps must be > 0, got {fps}")
        self.landmarker = landmarker
        self.loss_threshold = float(loss_threshold)
        self.fps = float(fps)
        self.min_face = float(min_face)
        self.smooth = bool(smooth)
        try:
            self._smoother = kernels.OneEuroSmoother(2 * landmarker.num_keypoints, min_cutoff=min_cutoff,
                                                     beta=beta, d_cutoff=d_cutoff)
        except (TypeError, ValueError) as e:
            raise FacekdError(f"invalid smoother parameters: {e}") from None
        self._eyes = landmarker.scheme.eye_corners
        self.stats = TrackerStats()
        self._pts: np.ndarray | None = None  # raw landmarks of the previous frame
        self._last_t: float | None = None

    @property
    def tracking(self) -> bool:
        return self._pts is not None

    def reset(self) -> None:
        """Forget the face (the next frame runs the detector) and the smoother state."""
        self._pts = None
        self._smoother.reset()

    def update(self, frame, timestamp: float | None = None, *, color: str = "RGB") -> Face | None:
        """Process the next frame -> the face (smoothed landmarks) or None when there is none."""
        img = read_image(frame, color=color)
        index = self.stats.frames
        t = index / self.fps if timestamp is None else float(timestamp)
        if not math.isfinite(t) or (self._last_t is not None and t <= self._last_t):
            raise FacekdError(f"timestamps must be finite and strictly increasing, got {t} after {self._last_t}")
        self._last_t = t
        self.stats.frames += 1
        face = None
        if self._pts is not None:
            face = self._track(img)
            if face is None:
                self.stats.losses += 1
                self.reset()
        if face is None:
            face = self._detect(img, index)
            if face is None:
                return None
        self._pts = face.landmarks.copy()
        if self.smooth:
            face.landmarks = self._smoother.apply(face.landmarks, t).astype(np.float32)
        self.stats.faces += 1
        return face

    def crop_box(self, points: np.ndarray) -> tuple[np.ndarray, float]:
        """The next crop for landmarks ``[K, 2]``: (box [4] in the upright face frame, roll degrees)."""
        from facekd import kernels

        pts = np.ascontiguousarray(points, dtype=np.float32)
        box, roll = kernels.box_from_landmarks(pts, *self._eyes)
        if roll == 0.0:
            return box, 0.0
        c = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2], np.float64)
        th = math.radians(roll)
        cs, sn = math.cos(th), math.sin(th)
        rot = np.array([[cs, -sn], [sn, cs]])  # face frame -> image
        inv = rot.T
        to_face = np.concatenate([inv, (c - inv @ c)[:, None]], axis=1).astype(np.float32)
        upright = kernels.points_transform(pts, to_face)
        ub, _ = kernels.box_from_landmarks(upright)
        uc = np.array([ub[0] + ub[2] / 2, ub[1] + ub[3] / 2])
        ic = rot @ (uc - c) + c
        return np.array([ic[0] - ub[2] / 2, ic[1] - ub[3] / 2, ub[2], ub[3]], np.float32), float(roll)

    def _track(self, img: np.ndarray) -> Face | None:
        try:
            box, roll = self.crop_box(self._pts)
        except (ValueError, FacekdError):
            return None
        if min(box[2], box[3]) < self.min_face:
            return None
        try:
            pts, scores = self.landmarker.predict(img, box[None], [roll])
        except FacekdError:  # the box left the image
            return None
        score = float(scores[0].mean())
        if not score >= self.loss_threshold:
            return None
        return Face(pts[0], scores[0], box, score, rotation=roll)

    def _detect(self, img: np.ndarray, index: int) -> Face | None:
        from facekd.detectors import detections_to_landmark_boxes

        det = self.landmarker.detector
        self.stats.detector_runs += 1
        self.stats.redetections.append(index)
        boxes, scores = det(img)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return None
        lm_box = detections_to_landmark_boxes(det, boxes[:1])[0]
        try:
            pts, sc = self.landmarker.predict(img, lm_box[None])
        except FacekdError:
            return None
        score = float(sc[0].mean())
        if not score >= self.loss_threshold:
            return None
        return Face(pts[0], sc[0], lm_box, score, boxes[0].copy(), float(np.asarray(scores).reshape(-1)[0]))
