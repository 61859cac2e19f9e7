"""facekd.api.Landmarker: model loading, image inputs, box conventions, batching, geometry through
the crop kernel and the codec (checked with an oracle model), errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facekd import kernels
from facekd.api import Face, Landmarker, default_model_path, read_image
from facekd.codecs import HeatmapCodec
from facekd.data import load_dataset
from facekd.data.base import box_from_points
from facekd.detectors import BoxTransform
from facekd.errors import FacekdError, NoFaceFoundError
from facekd.models import card_for, create_model, save_model
from facekd.schemes import get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"
SCHEME = get_scheme("ibug68")
K = SCHEME.num_points


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


@pytest.fixture(scope="module")
def untrained_dir(tmp_path_factory):
    """A freshly initialised (untrained) slim student saved with save_model."""
    torch.manual_seed(0)
    model = create_model("hrnet_slim_w8", K)
    card = card_for(model, scheme=SCHEME, input_size=128, codec=HeatmapCodec(128, 32, 1.0, "dark"))
    d = tmp_path_factory.mktemp("untrained")
    save_model(d, model, card)
    return d


@pytest.fixture(scope="module")
def untrained(untrained_dir):
    # roll re-crops off: these tests check one pass (tests/test_landmarker_roll.py covers re-crops)
    return Landmarker(untrained_dir, recrop_degrees=-1, turn_threshold=0)  # an untrained model scores low


@pytest.fixture(scope="module")
def face_300w():
    _need_shared()
    ds = load_dataset(SAMPLES / "300w")
    it = ds[0]
    return it["image"], it["landmarks"]


class TemplateModel(torch.nn.Module):
    """Oracle: always 'sees' the same K points at known crop pixels and renders them as heatmaps
    with the codec, so the landmarks Landmarker returns must be those points mapped through the
    crop affine."""

    def __init__(self, codec: HeatmapCodec, points_crop: np.ndarray):
        super().__init__()
        self.hm = torch.from_numpy(codec.encode(points_crop)[0])
        self.calls: list[int] = []

    def forward(self, x):
        self.calls.append(int(x.shape[0]))
        return self.hm[None].expand(x.shape[0], *self.hm.shape).clone()


def _template(size: int, crop_scale: float) -> np.ndarray:
    """K points on a circle that fills the tight box of a crop of ``size`` px (radius size/(2 scale))."""
    a = np.linspace(0, 2 * np.pi, K, endpoint=False)
    r = size / (2 * crop_scale)
    c = (size - 1) / 2
    return np.stack([c + r * np.cos(a), c + r * np.sin(a)], 1).astype(np.float32)


@pytest.fixture()
def oracle(untrained):
    card = untrained.card
    codec = card.get_codec()
    pts = _template(card.input_size, card.crop_scale)
    model = TemplateModel(codec, pts)
    return Landmarker.from_module(model, card, recrop_degrees=-1), model, pts


# ------------------------------------------------------------------------------------------------

def test_detect_shapes_on_a_real_face(untrained, face_300w):
    img, gt = face_300w
    box = box_from_points(gt)
    faces = untrained.detect(img, boxes=[box])
    assert len(faces) == 1
    f = faces[0]
    assert isinstance(f, Face)
    assert f.landmarks.shape == (K, 2) and f.landmarks.dtype == np.float32
    assert f.scores.shape == (K,) and f.scores.dtype == np.float32
    assert np.isfinite(f.landmarks).all()
    np.testing.assert_allclose(f.box, box, atol=1e-4)
    assert f.score == pytest.approx(float(f.scores.mean()), rel=1e-6)
    assert f.detector_box is None
    # crops are side max(w, h) * crop_scale around the box: every point lies inside that square,
    # give or take the one heatmap pixel a sub-pixel decoder may step past the border
    side = max(box[2], box[3]) * untrained.crop_scale
    slack = side / untrained.codec.heatmap_size
    # (in the crop's own axes: an untrained model's eyes may trigger a roll re-crop)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    th = np.radians(f.rotation)
    dx, dy = f.landmarks[:, 0] - cx, f.landmarks[:, 1] - cy
    u, v = np.cos(th) * dx + np.sin(th) * dy, -np.sin(th) * dx + np.cos(th) * dy
    assert (np.abs(u) <= side / 2 + slack).all()
    assert (np.abs(v) <= side / 2 + slack).all()
    d = f.to_dict()
    assert len(d["landmarks"]) == K and len(d["scores"]) == K


def test_batched_forward_equals_single_face_calls(untrained, face_300w):
    img, gt = face_300w
    box = box_from_points(gt)
    boxes = np.stack([box, box + np.array([6, -4, 0, 0], np.float32),
                      box * np.array([1, 1, 1.2, 1.1], np.float32)])
    calls = []
    run = untrained._run
    untrained._run = lambda x: (calls.append(int(x.shape[0])), run(x))[1]
    try:
        batched = untrained.detect(img, boxes=boxes)
        assert calls == [3]  # one forward pass for the three faces
        single = [untrained.detect(img, boxes=[b])[0] for b in boxes]
    finally:
        untrained._run = run
    assert len(batched) == 3
    for fb, fs in zip(batched, single):
        np.testing.assert_allclose(fb.landmarks, fs.landmarks, atol=2e-3)
        np.testing.assert_allclose(fb.scores, fs.scores, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(fb.box, fs.box)
    # different boxes give different crops, hence different outputs
    assert not np.allclose(batched[0].landmarks, batched[1].landmarks)


def test_geometry_through_crop_and_codec(oracle):
    lm, model, pts_crop = oracle
    img = np.zeros((240, 320, 3), np.uint8)
    box = np.array([100.3, 50.7, 80.0, 96.0], np.float32)
    f = lm.detect(img, boxes=[box])[0]
    aff = kernels.box_to_affine(box, scale=lm.crop_scale, out_size=lm.input_size)
    expect = kernels.points_transform(pts_crop, aff)
    # the codec's sub-pixel encode/decode round trip is exact to a few hundredths of a heatmap pixel
    tol = 0.05 * lm.input_size / lm.codec.heatmap_size * max(box[2], box[3]) * lm.crop_scale / lm.input_size
    np.testing.assert_allclose(f.landmarks, expect, atol=tol)
    # the points of a circle filling the tight box: their tight box is the given box's square
    got_box, _ = kernels.box_from_landmarks(f.landmarks)
    assert got_box[2] == pytest.approx(max(box[2], box[3]), rel=0.02)
    # rotated crops (trackers): points turn with the crop about the box centre
    pts, _ = lm.predict(img, box[None], [30.0])
    aff_r = kernels.box_to_affine(box, scale=lm.crop_scale, rotation=30.0, out_size=lm.input_size)
    np.testing.assert_allclose(pts[0], kernels.points_transform(pts_crop, aff_r), atol=tol)


def test_detector_boxes_are_mapped_to_the_landmark_convention(oracle):
    lm, _, _ = oracle

    class FixedDetector:
        box_transform = BoxTransform(dx=0.05, dy=0.1, sw=0.8, sh=0.9)

        def __init__(self):
            self.calls = 0

        def __call__(self, image):
            self.calls += 1
            return np.array([[40, 30, 100, 100], [10, 10, 30, 30]], np.float32), np.array([5, 2], np.float32)

    det = FixedDetector()
    lm._detector = det
    img = np.zeros((200, 200, 3), np.uint8)
    faces = lm.detect(img)
    assert det.calls == 1 and len(faces) == 2
    expected = det.box_transform.apply(np.array([40, 30, 100, 100], np.float32))
    np.testing.assert_allclose(faces[0].box, expected, atol=1e-5)
    np.testing.assert_allclose(faces[0].box, [40 + 50 + 5 - 40, 30 + 50 + 10 - 45, 80, 90], atol=1e-4)
    np.testing.assert_array_equal(faces[0].detector_box, [40, 30, 100, 100])
    assert faces[0].detector_score == 5.0
    # explicit boxes: landmark convention as given, or the detector's convention mapped the same way
    f = lm.detect(img, boxes=[[40, 30, 100, 100]], box_convention="detector")[0]
    np.testing.assert_allclose(f.box, expected, atol=1e-5)
    f = lm.detect(img, boxes=[[40, 30, 100, 100]])[0]
    np.testing.assert_allclose(f.box, [40, 30, 100, 100])
    assert len(lm.detect(img, max_faces=1)) == 1
    with pytest.raises(FacekdError, match="box_convention"):
        lm.detect(img, boxes=[[40, 30, 100, 100]], box_convention="dlib")


def test_detector_calibration_acts_in_the_face_frame(oracle):
    """A face found in a turned pass (eye keypoints one above the other: roll 90 degrees) gets the
    calibration of an upright face: sides swapped, the offset along the face's own axes (its chin
    points to the image left), the same as turning the image, mapping, and turning back."""
    lm, _, _ = oracle
    t = BoxTransform(dx=0.05, dy=0.1, sw=0.8, sh=0.9)
    box = np.array([40, 30, 120, 100], np.float32)  # image frame: 120 wide, 100 tall

    class Turned:
        box_transform = t

        def __init__(self, roll):
            c = (box[:2] + box[2:] / 2).astype(np.float64)
            a = np.radians(roll)
            u = np.array([np.cos(a), np.sin(a)]) * 20  # image-left eye -> image-right eye
            self.kps = np.stack([c - u, c + u, c, c, c])[None].astype(np.float32)

        def __call__(self, image):
            return box[None], np.array([0.9], np.float32), self.kps

    img = np.zeros((240, 240, 3), np.uint8)
    # box centre (100, 80); face-frame sides (w, h) = (100, 120) for a quarter turn, else (120, 100);
    # offset (dx w, dy h) turned by the roll
    for roll, centre, size in [(0.0, (106, 90), (96, 90)), (90.0, (88, 85), (80, 108)),
                               (-90.0, (112, 75), (80, 108)), (180.0, (94, 70), (96, 90))]:
        lm._detector = Turned(roll)
        f = lm.detect(img)[0]
        assert abs((f.rotation - roll + 180) % 360 - 180) < 1e-3
        np.testing.assert_allclose([f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2], centre, atol=1e-3)
        np.testing.assert_allclose(f.box[2:], size, atol=1e-3)


class OrientTemplate(TemplateModel):
    """The template, with heatmap peaks 0.9 when the crop's top quarter is brighter than its bottom
    quarter (the crop is 'upright' for a bright patch) and ``low`` otherwise."""

    def __init__(self, codec, points_crop, low: float = 0.2):
        super().__init__(codec, points_crop)
        self.low = low

    def forward(self, x):
        out = super().forward(x)
        q = x.shape[2] // 4
        up = x[:, :, :q].mean(dim=(1, 2, 3)) > x[:, :, -q:].mean(dim=(1, 2, 3)) + 0.5
        return out * torch.where(up, 0.9, self.low)[:, None, None, None]


@pytest.mark.parametrize("patch,threshold,rotation,calls", [
    ("below", None, 180.0, 2),  # a low first fit, the 180-degree crop fits: kept turned (C default threshold)
    ("right", None, 90.0, 2),   # a quarter turn (the crop's top points to image +x at +90)
    ("left", None, -90.0, 2),
    ("none", None, 0.0, 2),     # no turn fits better: the first fit stays
    ("above", None, 0.0, 1),    # a fit above the threshold is not tried again
    ("below", 0.0, 0.0, 1),     # turn_threshold 0: off
])
def test_turn_check(untrained, patch, threshold, rotation, calls):
    card = untrained.card
    model = OrientTemplate(card.get_codec(), _template(card.input_size, card.crop_scale))
    lm = Landmarker.from_module(model, card, recrop_degrees=-1, turn_threshold=threshold)
    img = np.full((240, 240, 3), 60, np.uint8)
    sl = {"below": np.s_[140:190, 70:170], "above": np.s_[50:100, 70:170], "right": np.s_[70:170, 140:190],
          "left": np.s_[70:170, 50:100], "none": np.s_[0:0, 0:0]}[patch]
    img[sl] = 250
    f = lm.detect(img, [[70, 70, 100, 100]])[0]
    assert abs((f.rotation - rotation + 180) % 360 - 180) < 1e-3
    assert len(model.calls) == calls
    assert model.calls[1:] == [7] * (calls - 1)  # the 7 candidates (turns, 0.6x box) in one batched call
    assert f.score > 0.6 if rotation or patch == "above" else f.score < 0.3


@pytest.mark.parametrize("card_threshold,option,calls", [
    (0.1, None, 1),   # the card's measured threshold: the 0.2-score fit is not tried again
    (0.1, 0.4, 2),    # an explicit option overrides the card
    (0.5, None, 2),   # a card threshold above the fit's score: the turns are tried
])
def test_turn_check_threshold_comes_from_the_card(untrained, card_threshold, option, calls):
    import dataclasses

    card = dataclasses.replace(untrained.card, turn_threshold=card_threshold)
    model = OrientTemplate(card.get_codec(), _template(card.input_size, card.crop_scale))
    lm = Landmarker.from_module(model, card, recrop_degrees=-1, turn_threshold=option)
    img = np.full((240, 240, 3), 60, np.uint8)
    img[140:190, 70:170] = 250
    f = lm.detect(img, [[70, 70, 100, 100]])[0]
    assert len(model.calls) == calls
    assert abs(abs(f.rotation) - (180.0 if calls == 2 else 0.0)) < 1e-3


def test_turn_threshold_must_be_a_number(untrained):
    with pytest.raises(FacekdError, match="turn_threshold"):
        Landmarker.from_module(TemplateModel(untrained.card.get_codec(), np.zeros((K, 2), np.float32)),
                               untrained.card, turn_threshold=float("nan"))


def test_no_detection_gives_no_faces(oracle):
    lm, _, _ = oracle

    class Nothing:
        box_transform = None

        def __call__(self, image):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)

    lm._detector = Nothing()
    img = np.zeros((64, 64, 3), np.uint8)
    assert lm.detect(img) == []
    with pytest.raises(NoFaceFoundError):
        lm.detect_one(img)


def test_image_inputs_and_colour_order(untrained, face_300w):
    img, gt = face_300w
    box = box_from_points(gt)
    ref = untrained.detect(img, boxes=[box])[0].landmarks
    bgr = np.ascontiguousarray(img[..., ::-1])
    np.testing.assert_allclose(untrained.detect(bgr, boxes=[box], color="BGR")[0].landmarks, ref, atol=1e-4)
    np.testing.assert_allclose(untrained.detect(Image.fromarray(img), boxes=[box])[0].landmarks, ref, atol=1e-4)
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_allclose(untrained.detect(rgba, boxes=[box])[0].landmarks, ref, atol=1e-4)
    # BGR order matters (unless the image is gray)
    assert not np.allclose(untrained.detect(bgr, boxes=[box])[0].scores,
                           untrained.detect(img, boxes=[box])[0].scores)
    gray = np.asarray(Image.fromarray(img).convert("L"))
    for x in (gray, gray[..., None], Image.fromarray(gray), Image.fromarray(img).convert("P"),
              Image.fromarray(img).convert("CMYK"), Image.fromarray(img).convert("1")):
        out = read_image(x)
        assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(read_image(gray)[..., 0], gray)


def test_image_input_errors(tmp_path, untrained):
    box = [[10, 10, 40, 40]]
    with pytest.raises(FacekdError, match="uint8"):
        untrained.detect(np.zeros((64, 64, 3), np.float32), boxes=box)
    with pytest.raises(FacekdError, match="shape"):
        untrained.detect(np.zeros((64, 64, 2), np.uint8), boxes=box)
    with pytest.raises(FacekdError, match="color"):
        untrained.detect(np.zeros((64, 64, 3), np.uint8), boxes=box, color="YUV")
    with pytest.raises(FacekdError, match="not found"):
        untrained.detect(tmp_path / "missing.jpg", boxes=box)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(FacekdError, match="cannot read image"):
        untrained.detect(bad, boxes=box)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((32, 32), 40000, np.uint16)).save(deep)
    assert Image.open(deep).mode.startswith("I")
    with pytest.raises(FacekdError, match="unsupported image mode"):
        untrained.detect(deep, boxes=box)
    with pytest.raises(FacekdError, match="unsupported image mode"):
        read_image(Image.fromarray(np.zeros((8, 8), np.float32)))
    with pytest.raises(FacekdError, match="image must be"):
        untrained.detect([[1, 2], [3, 4]], boxes=box)


def test_decompression_bomb_guard(tmp_path, monkeypatch, untrained):
    p = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(p)
    import facekd.api as api

    monkeypatch.setattr(api, "MAX_PIXELS", 300 * 200 - 1)
    with pytest.raises(FacekdError, match="too large"):
        untrained.detect(p, boxes=[[10, 10, 40, 40]])
    with pytest.raises(FacekdError, match="too large"):
        read_image(np.zeros((200, 300), np.uint8))
    monkeypatch.setattr(api, "MAX_PIXELS", 300 * 200)
    assert read_image(p).shape == (200, 300, 3)


def test_box_errors(untrained):
    img = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(FacekdError, match="> 0"):
        untrained.detect(img, boxes=[[10, 10, -5, 20]])
    with pytest.raises(FacekdError, match=r"\[M, 4\]"):
        untrained.detect(img, boxes=[[10, 10, 20]])
    with pytest.raises(FacekdError, match="finite"):
        untrained.detect(img, boxes=[[10, np.nan, 20, 20]])
    with pytest.raises(FacekdError, match="cannot be cropped"):
        untrained.detect(img, boxes=[[500, 500, 20, 20]])


def test_model_errors(tmp_path, monkeypatch):
    with pytest.raises(FacekdError, match="model not found"):
        Landmarker(tmp_path / "nope")
    with pytest.raises(FacekdError):
        Landmarker(42)
    import facekd.models.io as model_io

    monkeypatch.setattr(model_io, "default_model_path", lambda: None)
    with pytest.raises(FacekdError, match="default model is not bundled"):
        Landmarker("default")


def test_coordinate_model(untrained, face_300w):
    """Coordinate-regression models decode through the crop affine too (scores are 1)."""
    img, gt = face_300w
    model = create_model("pfld_regress", K)
    card = card_for(model, scheme=SCHEME, input_size=112)
    lm = Landmarker.from_module(model, card)
    box = box_from_points(gt)
    f = lm.detect(img, boxes=[box])[0]
    assert f.landmarks.shape == (K, 2) and np.isfinite(f.landmarks).all()
    np.testing.assert_array_equal(f.scores, np.ones(K, np.float32))


def test_onnx_model_matches_torch(tmp_path, untrained_dir, untrained, face_300w):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from facekd.export.onnx import to_onnx
    from facekd.models import load_model

    module, card = load_model(untrained_dir)
    s = card.input_size
    p = tmp_path / "m.onnx"
    p.write_bytes(to_onnx(module, torch.zeros(1, 3, s, s), card.to_json()))
    lm = Landmarker(p)
    img, gt = face_300w
    box = box_from_points(gt)
    boxes = [box, box + np.array([5, 5, 0, 0], np.float32)]
    a = lm.detect(img, boxes=boxes)
    b = untrained.detect(img, boxes=boxes)
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fa.scores, fb.scores, atol=1e-4)


@pytest.mark.skipif(default_model_path() is None, reason="the default model asset is not bundled yet")
def test_shipped_default_model_on_ytf68():
    _need_shared()
    from facekd.engine.metrics import nme

    lm = Landmarker("default")
    ds = load_dataset(YTF / "test")
    idx = np.linspace(0, len(ds) - 1, 24).round().astype(int)
    preds, gts = [], []
    for i in idx:
        it = ds[int(i)]
        preds.append(lm.detect(it["image"], boxes=[box_from_points(it["landmarks"])])[0].landmarks)
        gts.append(it["landmarks"])
    e = nme(np.stack(preds), np.stack(gts), ds.scheme)
    assert float(np.mean(e)) < 0.08
    faces = lm.detect(ds[int(idx[0])]["image"])  # with the bundled detector
    assert faces and faces[0].score > 0.3
