"""facekd.api.Tracker and `facekd video`: tracking from the previous landmarks, roll-aware crops,
loss detection and re-detection, One-Euro smoothing, video I/O."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from facekd import kernels
from facekd.api import Landmarker, Tracker
from facekd.cli import main
from facekd.codecs import HeatmapCodec
from facekd.errors import FacekdError
from facekd.models import card_for, create_model, save_model
from facekd.schemes import get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
YTF = SHARED / "data" / "ytf68"
SCHEME = get_scheme("ibug68")
K = SCHEME.num_points


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The CLI runs below use --threads 1 (process-wide in torch): restore the count afterwards."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _circle(center, r, n=K, ry=None):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([center[0] + r * np.cos(a), center[1] + (ry or r) * np.sin(a)], 1)
    left, right = SCHEME.eye_corners  # image-left corner at angle pi, the other at 0: no roll
    pts[left] = (center[0] - r, center[1])
    pts[right] = (center[0] + r, center[1])
    return pts.astype(np.float32)


class BlobModel(torch.nn.Module):
    """Stand-in for a landmark network: finds the bright blob in the crop (centroid of the pixels
    brighter than mid-grey) and reports a circle of K points around it whose tight box, enlarged
    by crop_scale, is exactly the crop, so a tracker keeps the scale. No bright pixel: all-zero
    heatmaps (score 0)."""

    def __init__(self, codec: HeatmapCodec, crop_scale: float):
        super().__init__()
        self.codec, self.crop_scale = codec, crop_scale
        self.batches = 0

    def forward(self, x):
        self.batches += 1
        s = x.shape[-1]
        out = []
        for crop in x:
            w = torch.relu(crop.mean(0))  # ImageNet-normalised: > 0 is brighter than mid-grey
            if float(w.max()) <= 0.5:
                out.append(torch.zeros(K, self.codec.heatmap_size, self.codec.heatmap_size))
                continue
            ys, xs = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32),
                                    indexing="ij")
            c = (float((w * xs).sum() / w.sum()), float((w * ys).sum() / w.sum()))
            pts = _circle(c, s / (2 * self.crop_scale))
            out.append(torch.from_numpy(self.codec.encode(pts)[0]))
        return torch.stack(out)


class BlobDetector:
    """Box around the brightest image region when there is one (landmark-box convention)."""

    box_transform = None

    def __init__(self, radius: float):
        self.radius, self.calls = radius, 0

    def __call__(self, image):
        self.calls += 1
        g = image.mean(2)
        if g.max() < 128:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        ys, xs = np.nonzero(g >= 128)
        cx, cy = xs.mean(), ys.mean()
        r = self.radius
        return np.array([[cx - r, cy - r, 2 * r, 2 * r]], np.float32), np.array([1.0], np.float32)


def _centre(pts):
    """Centre of the landmarks' tight box (the circle's centre)."""
    box, _ = kernels.box_from_landmarks(np.asarray(pts, np.float32))
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def _blob_frame(center, size=(180, 240), sigma=5.0):
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    g = 255 * np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * sigma ** 2))
    return np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)


@pytest.fixture(scope="module")
def card():
    model = create_model("hrnet_slim_w8", K)
    return card_for(model, scheme=SCHEME, input_size=96, codec=HeatmapCodec(96, 48, 1.5, "dark"))


@pytest.fixture()
def blob(card):
    model = BlobModel(card.get_codec(), card.crop_scale)
    det = BlobDetector(radius=30.0)
    return Landmarker.from_module(model, card, detector=det), model, det


def test_tracker_follows_a_moving_face_without_redetection(blob):
    lm, model, det = blob
    tr = Tracker(lm, smooth=False, loss_threshold=0.5)
    centres = [(60 + 2.5 * i, 70 + 1.2 * i) for i in range(16)]
    for i, c in enumerate(centres):
        face = tr.update(_blob_frame(c))
        assert face is not None, f"lost at frame {i}"
        assert np.linalg.norm(_centre(face.landmarks) - np.array(c)) < 0.6
        # the crop box keeps the scale (circle of radius 30 -> tight box 60)
        assert face.box[2] == pytest.approx(60, abs=1.5)
    assert det.calls == 1
    assert tr.stats.to_dict() == {"frames": 16, "faces": 16, "detector_runs": 1, "losses": 0}
    assert model.batches == 16


def test_loss_and_redetection(blob):
    lm, _, det = blob
    tr = Tracker(lm, smooth=False, loss_threshold=0.5)
    blank = np.zeros((180, 240, 3), np.uint8)  # no face: the detector finds nothing
    frames = [_blob_frame((80 + 2 * i, 90)) for i in range(5)] + [blank] * 3 \
        + [_blob_frame((150 - i, 80)) for i in range(4)]
    got = [tr.update(f) for f in frames]
    assert [g is None for g in got] == [False] * 5 + [True] * 3 + [False] * 4
    assert tr.stats.losses == 1
    assert tr.stats.redetections == [0, 5, 6, 7, 8]
    assert det.calls == 5
    assert np.linalg.norm(_centre(got[-1].landmarks) - np.array([147, 80])) < 0.6


def test_loss_threshold_controls_redetection(blob):
    lm, _, det = blob
    tr = Tracker(lm, smooth=False, loss_threshold=math.inf)  # nothing is ever good enough
    for i in range(4):
        assert tr.update(_blob_frame((80 + i, 90))) is None
    assert det.calls == 4 and tr.stats.faces == 0


def test_loss_threshold_defaults_to_the_card(card):
    """Tracker(loss_threshold=None) uses the card's measured loss_threshold (0.3 without one)."""
    import dataclasses

    for card_value, tracked in ((0.999, False), (0.1, True), (None, True)):
        c = dataclasses.replace(card, loss_threshold=card_value)
        det = BlobDetector(radius=30.0)
        lm = Landmarker.from_module(BlobModel(c.get_codec(), c.crop_scale), c, detector=det)
        tr = Tracker(lm, smooth=False)
        assert tr.loss_threshold is None
        got = [tr.update(_blob_frame((80 + i, 90))) for i in range(3)]
        assert [g is not None for g in got] == [tracked] * 3, card_value
        assert det.calls == (1 if tracked else 3)


def test_one_euro_smoothing_reduces_jitter(blob):
    lm, _, _ = blob
    rng = np.random.default_rng(0)
    raw_tr = Tracker(lm, smooth=False, loss_threshold=0.5)
    smooth_tr = Tracker(lm, smooth=True, loss_threshold=0.5, min_cutoff=1.0, beta=0.0)
    raw, smooth = [], []
    for i in range(30):
        frame = _blob_frame((100 + rng.uniform(-1.5, 1.5), 90 + rng.uniform(-1.5, 1.5)))
        raw.append(_centre(raw_tr.update(frame).landmarks))
        smooth.append(_centre(smooth_tr.update(frame).landmarks))
    raw, smooth = np.array(raw[5:]), np.array(smooth[5:])
    assert smooth.std(0).max() < 0.6 * raw.std(0).min()
    assert np.abs(smooth.mean(0) - raw.mean(0)).max() < 1.0


def test_crop_box_is_upright_for_rolled_faces(blob):
    lm, _, _ = blob
    tr = Tracker(lm)
    upright = _circle((120.0, 90.0), 40.0, ry=25.0)
    box_u, roll_u = kernels.box_from_landmarks(upright, *SCHEME.eye_corners)
    assert roll_u == pytest.approx(0.0, abs=1e-4)
    th = math.radians(20.0)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    centre = np.array([130.0, 95.0])
    rolled = ((upright - [120.0, 90.0]) @ R.T + centre).astype(np.float32)
    box, roll = tr.crop_box(rolled)
    assert roll == pytest.approx(20.0, abs=1e-3)
    np.testing.assert_allclose(box[2:], box_u[2:], rtol=1e-4)  # the face's own extent, not the rotated one
    np.testing.assert_allclose(box[:2] + box[2:] / 2, centre, atol=1e-3)
    # the axis-aligned tight box of the rolled points is bigger
    assert kernels.box_from_landmarks(rolled)[0][3] > box_u[3] + 3


def test_tracker_follows_a_rolled_face(blob):
    lm, _, _ = blob
    tr = Tracker(lm, smooth=False, loss_threshold=0.5)
    assert tr.update(_blob_frame((100, 90))) is not None
    face = tr.update(_blob_frame((103, 91)))
    assert face.rotation == pytest.approx(0.0, abs=0.5)
    assert np.linalg.norm(_centre(face.landmarks) - [103, 91]) < 0.6


def test_tracker_argument_errors(blob):
    lm, _, _ = blob
    tr = Tracker(lm)
    tr.update(_blob_frame((100, 90)), timestamp=1.0)
    with pytest.raises(FacekdError, match="increasing"):
        tr.update(_blob_frame((100, 90)), timestamp=1.0)
    with pytest.raises(FacekdError, match="smoother"):
        Tracker(lm, min_cutoff=-1.0)
    with pytest.raises(FacekdError, match="Landmarker"):
        Tracker(object())
    with pytest.raises(FacekdError, match="fps"):
        Tracker(lm, fps=0)


# ------------------------------------------------------------------------------------------------
# `facekd video` with real video files

@pytest.fixture(scope="module")
def untrained_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("hrnet_slim_w8", K)
    card = card_for(model, scheme=SCHEME, input_size=128, codec=HeatmapCodec(128, 32, 1.0, "dark"))
    d = tmp_path_factory.mktemp("untrained_video")
    save_model(d, model, card)
    return d


def _write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(np.ascontiguousarray(f[..., ::-1]))
    wr.release()


def _count_frames(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_video_cli_end_to_end(tmp_path, untrained_dir, capsys):
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    from facekd.data import load_image

    import cv2

    face = load_image(YTF / "test" / "Ahmad_Masood_00_tr.jpg")
    face = cv2.resize(face, (face.shape[1] * 2 // 3, face.shape[0] * 2 // 3), interpolation=cv2.INTER_AREA)
    h, w = face.shape[:2]
    frames = []
    for i in range(6):  # the face slides right and down over a grey canvas
        canvas = np.full((h + 40, w + 60, 3), 90, np.uint8)
        canvas[5 + 3 * i:5 + 3 * i + h, 4 + 6 * i:4 + 6 * i + w] = face
        frames.append(canvas)
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, frames)
    out, js = tmp_path / "out.mp4", tmp_path / "out.json"
    rc = main(["video", str(clip), "-o", str(out), "--landmarks", str(js), "--model", str(untrained_dir), "--quiet",
               "--threads", "1"])
    assert rc == 0
    assert _count_frames(out) == len(frames)
    data = json.loads(js.read_text())
    assert len(data["frames"]) == len(frames) and data["scheme"] == SCHEME.name
    s = data["summary"]
    # an untrained model never reaches the loss threshold: the detector runs on every frame
    assert s["frames"] == len(frames) and s["frames_with_face"] == 0 and s["detector_runs"] == len(frames)
    assert "FPS" in capsys.readouterr().out
    # with a threshold every score passes, the face is tracked from the first detection on
    assert main(["video", str(clip), "--landmarks", str(js), "--model", str(untrained_dir), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err  # the first run's file is not replaced unasked
    rc = main(["video", str(clip), "--landmarks", str(js), "--model", str(untrained_dir), "--quiet",
               "--threads", "1", "--loss-threshold", "-1", "--max-frames", "3", "--overwrite"])
    assert rc == 0
    data = json.loads(js.read_text())
    assert data["summary"]["frames"] == 3 and data["summary"]["frames_with_face"] >= 1
    first = data["frames"][0]["face"]
    assert first is not None and len(first["landmarks"]) == K and "detector_box" in first


def test_video_cli_errors(tmp_path, capsys):
    assert main(["video", str(tmp_path / "missing.mp4")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["video", str(bad), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot open" in err or "no frame" in err
    assert main(["video", str(bad), "-o", str(tmp_path / "x.gif")]) == 2
    assert "unsupported video extension" in capsys.readouterr().err
