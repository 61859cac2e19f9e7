"""facekd.detectors: box transforms, OpenCV-compatible Haar cascade evaluation and grouping, the
bundled detector's recall and calibration on real faces."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from facekd.data import load_dataset
from facekd.data.base import box_from_points
from facekd.detectors import (BoxTransform, CascadeFaceDetector, HaarCascade, box_iou, calibrate,
                              default_detector, group_rectangles, match_detection, recall)
from facekd.errors import FacekdError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
YTF = SHARED / "data" / "ytf68"


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


def _spread(ds, n):
    return ds.select(sorted({int(round(v)) for v in np.linspace(0, len(ds) - 1, n)}))


def test_box_transform_apply_inverse_fit():
    t = BoxTransform(dx=0.02, dy=0.15, sw=0.9, sh=1.1)
    b = np.array([[10, 20, 100, 80], [0, 0, 30, 60]], np.float32)
    out = t.apply(b)
    np.testing.assert_allclose(out[0], [10 + 50 + 2 - 45, 20 + 40 + 12 - 44, 90, 88], atol=1e-4)
    np.testing.assert_allclose(t.inverse().apply(out), b, atol=1e-4)
    assert t.apply(b[0]).shape == (4,)
    rng = np.random.default_rng(0)
    src = np.concatenate([rng.uniform(0, 200, (50, 2)), rng.uniform(40, 120, (50, 1)).repeat(2, 1)], 1)
    dst = t.apply(src) + rng.normal(0, 0.2, (50, 4)).astype(np.float32)
    fit = BoxTransform.fit(src, dst)
    np.testing.assert_allclose([fit.dx, fit.dy, fit.sw, fit.sh], [t.dx, t.dy, t.sw, t.sh], atol=0.01)
    assert BoxTransform.from_dict(t.to_dict()) == t
    with pytest.raises(FacekdError):
        BoxTransform(sw=0)
    with pytest.raises(FacekdError):
        BoxTransform.from_dict({"dx": 0})


def test_iou_and_matching():
    a = np.array([[0, 0, 10, 10]], np.float32)
    assert box_iou(a, a)[0, 0] == pytest.approx(1.0)
    assert box_iou(a, [[5, 0, 10, 10]])[0, 0] == pytest.approx(50 / 150)
    assert box_iou(a, [[20, 20, 5, 5]])[0, 0] == 0.0
    dets = np.array([[100, 100, 10, 10], [0, 0, 12, 12], [1, 1, 9, 9]], np.float32)
    assert match_detection(dets, [0, 0, 10, 10]) == 2  # centre inside, highest IoU
    assert match_detection(dets[:1], [0, 0, 10, 10]) is None
    assert match_detection(np.zeros((0, 4)), [0, 0, 10, 10]) is None


def test_group_rectangles_like_opencv():
    cluster = [[100, 100, 50, 50], [102, 101, 50, 50], [99, 98, 52, 52], [101, 100, 49, 49]]
    lone = [[10, 10, 30, 30]]
    boxes, counts = group_rectangles(cluster + lone, min_neighbors=3)
    assert counts.tolist() == [4]  # the lone window (1 <= 3 neighbours) is dropped
    np.testing.assert_array_equal(boxes[0], np.rint(np.mean(cluster, 0)).astype(int))
    boxes, counts = group_rectangles(cluster + lone, min_neighbors=0)
    assert len(boxes) == 5  # no grouping at all
    # a small cluster inside a bigger one with more members is removed
    inner = [[110, 110, 20, 20]] * 4
    boxes, counts = group_rectangles(cluster * 2 + inner, min_neighbors=3)
    assert counts.tolist() == [8]


def test_cascade_errors(tmp_path):
    with pytest.raises(FacekdError, match="XML"):
        HaarCascade.from_xml(b"<not xml")
    with pytest.raises(FacekdError, match="cascade"):
        HaarCascade.from_xml(b"<opencv_storage></opencv_storage>")
    lbp = (b"<opencv_storage><cascade><stageType>BOOST</stageType><featureType>LBP</featureType>"
           b"</cascade></opencv_storage>")
    with pytest.raises(FacekdError, match="HAAR"):
        HaarCascade.from_xml(lbp)
    with pytest.raises(FacekdError, match="cannot read"):
        HaarCascade.read(tmp_path / "missing.xml")
    det = CascadeFaceDetector()
    with pytest.raises(FacekdError, match="uint8"):
        det(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(FacekdError, match="shape"):
        det(np.zeros((50, 50, 2), np.uint8))
    with pytest.raises(FacekdError, match="scale_factor"):
        CascadeFaceDetector(scale_factor=1.0)


def test_blank_and_tiny_images_have_no_face():
    det = CascadeFaceDetector()
    for img in (np.full((120, 160, 3), 128, np.uint8), np.zeros((10, 10, 3), np.uint8),
                np.zeros((100, 100), np.uint8)):
        boxes, scores = det(img)
        assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_matches_opencv_cascade_classifier_when_available():
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip("this OpenCV has no CascadeClassifier (OpenCV >= 5 moved it out)")
    _need_shared()
    import gzip
    import tempfile

    data = resources.files("facekd").joinpath("assets", "detectors",
                                              "haarcascade_frontalface_default.xml.gz").read_bytes()
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(gzip.decompress(data))
        f.flush()
        cc = cv2.CascadeClassifier(f.name)
    det = CascadeFaceDetector()
    ds = _spread(load_dataset(YTF / "test"), 4)
    for i in range(len(ds)):
        g = cv2.cvtColor(ds[i]["image"], cv2.COLOR_RGB2GRAY)
        ref = np.asarray(cc.detectMultiScale(g, 1.1, 3, minSize=(24, 24))).reshape(-1, 4)
        mine, _ = group_rectangles(det.cascade.scan(g, scale_factor=1.1, min_size=24), 3)
        assert sorted(map(tuple, ref.tolist())) == sorted(map(tuple, mine.tolist()))


def test_default_detector_is_yunet():
    from facekd.detectors import DEFAULT_DETECTOR, YuNetDetector

    assert isinstance(default_detector(), YuNetDetector) and default_detector().name == DEFAULT_DETECTOR


def test_bundled_detector_finds_ytf68_faces():
    _need_shared()
    det = CascadeFaceDetector()
    assert det.box_transform is not None, "the bundled detector has no calibrated box transform"
    ds = _spread(load_dataset(YTF / "test"), 8)
    stats = recall(det, ds, progress=False)
    assert stats["faces"] == 8
    assert stats["recall_centre"] >= 0.75
    assert stats["recall_iou0.5"] >= 0.75  # the mapped boxes overlap the landmark boxes
    # mapped detections are much closer to the landmark boxes than raw ones
    raw, mapped = [], []
    for i in range(0, len(ds), 2):
        it = ds[i]
        gt = box_from_points(it["landmarks"])
        boxes, _ = det(it["image"])
        j = match_detection(boxes, gt)
        if j is not None:
            raw.append(box_iou(boxes[j:j + 1], gt)[0, 0])
            mapped.append(box_iou(det.box_transform.apply(boxes[j:j + 1]), gt)[0, 0])
    assert np.median(mapped) > np.median(raw) and np.median(mapped) > 0.7


def test_bundled_config_is_calibration_data():
    cfg = json.loads(resources.files("facekd").joinpath("assets", "detectors", "haar_frontalface.json").read_text())
    t = BoxTransform.from_dict(cfg["box_transform"])
    assert 0.5 < t.sw < 1.5 and 0.5 < t.sh < 1.5
    cal = cfg["calibration"]
    assert cal["matched"] > 0.8 * cal["faces"] and "ytf68" in cal["data"]
    assert cfg["recall"]["faces"] > 0 and 0 < cfg["recall"]["recall_centre"] <= 1
    det = CascadeFaceDetector()
    assert det.params() == cfg["params"]


def test_calibrate_recovers_a_known_offset():
    """A fake detector that returns the landmark box distorted by a known transform: calibration
    must find the inverse."""
    _need_shared()
    truth = BoxTransform(dx=-0.05, dy=0.1, sw=1.3, sh=1.2)

    class Distorted:
        box_transform = None
        current = None  # the ground-truth box of the image being read

        def __call__(self, image):
            return truth.apply(self.current)[None], np.ones(1, np.float32)

    ds = _spread(load_dataset(YTF / "val"), 5)

    class Wrapped:
        def __init__(self, base):
            self.base, self.det = base, Distorted()

        def __len__(self):
            return len(self.base)

        def __getitem__(self, i):
            it = self.base[i]
            self.det.current = box_from_points(it["landmarks"])
            return it

    w = Wrapped(ds)
    cal = calibrate(w.det, w, progress=False)
    fit = BoxTransform.from_dict(cal["box_transform"])
    inv = truth.inverse()
    np.testing.assert_allclose([fit.dx, fit.dy, fit.sw, fit.sh], [inv.dx, inv.dy, inv.sw, inv.sh], atol=1e-4)
    assert cal["matched"] == 5 and cal["iou_mapped_median"] > 0.999
