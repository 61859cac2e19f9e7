"""The YuNet detector: the torch port against the published ONNX graphs in onnxruntime on real
photos (raw decode and the full detector), keypoint order, the score threshold, NMS, rotated
passes and their box mapping, the seeded rotation test set, export to ExecuTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facekd.detectors import (BoxTransform, Detections, FaceDetector, YuNetDetector, bundled_detectors,
                              box_iou, load_detector, load_photo_boxes, match_boxes, nms)
from facekd.errors import FacekdError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DET = SHARED / "detectors"
AFW = SHARED / "data" / "afw_photos"
PHOTOS = ("1051618982.jpg", "111076519.jpg", "1130084326.jpg", "1139324862.jpg")


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _photo(name):
    from facekd.data.base import load_image

    return load_image(AFW / name)


def _onnx_rows(variant: str, x: np.ndarray) -> np.ndarray:
    """Reference: the shipped ONNX graph in onnxruntime + a plain numpy decode of its 12 outputs
    (OpenCV FaceDetectorYN's), rows (x, y, w, h, 10 keypoint coords, score)."""
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(DET / f"yunet_{variant}_dynamic.onnx"), so, providers=["CPUExecutionProvider"])
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x})))
    H, W = x.shape[2:]
    rows = []
    for s in (8, 16, 32):
        cols, nrows = W // s, H // s
        c = np.tile(np.arange(cols), nrows)
        r = np.repeat(np.arange(nrows), cols)
        cls, obj = out[f"cls_{s}"][0, :, 0], out[f"obj_{s}"][0, :, 0]
        bb, kp = out[f"bbox_{s}"][0], out[f"kps_{s}"][0].reshape(-1, 5, 2)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        w, h = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
        cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
        k = np.stack([(kp[..., 0] + c[:, None]) * s, (kp[..., 1] + r[:, None]) * s], -1).reshape(-1, 10)
        rows.append(np.concatenate([np.stack([cx - w / 2, cy - h / 2, w, h], 1), k, score[:, None]], 1))
    return np.concatenate(rows)


@pytest.mark.parametrize("variant", ["n", "s"])
def test_decode_matches_the_onnx_graph_on_real_photos(variant):
    """Every row of the port (anchors of the three strides, boxes, 5 keypoints, scores) equals
    the shipped ONNX graph's decoded outputs on real AFW photos."""
    _need_shared()
    det = YuNetDetector(f"yunet_{variant}")
    for name in PHOTOS[:2]:
        x, _ = det._prepare(_photo(name))
        with torch.no_grad():
            mine = det.module(torch.from_numpy(x))[0].numpy()
        ref = _onnx_rows(variant, x)
        assert mine.shape == ref.shape == ((x.shape[2] * x.shape[3]) // 64 * 21 // 16, 15)
        np.testing.assert_allclose(mine[:, 14], ref[:, 14], atol=1e-3)  # scores everywhere (sqrt near 0)
        sel = ref[:, 14] > 0.3  # coordinates where they mean something (exp of noise elsewhere)
        assert sel.sum() >= 5
        np.testing.assert_allclose(mine[sel, :14], ref[sel, :14], atol=0.02)
        assert ref[:, 14].max() > 0.9  # there are faces on these photos


def test_detector_matches_onnx_reference_pipeline():
    """Threshold + NMS + mapping back of the detector vs the same steps on the ONNX outputs."""
    _need_shared()
    det = YuNetDetector("yunet_n")
    for name in PHOTOS:
        img = _photo(name)
        d = det.detect(img)
        x, r = det._prepare(img)
        ref = _onnx_rows("n", x)
        ref = ref[ref[:, 14] >= det.score_threshold]
        ref = ref[nms(ref[:, :4], ref[:, 14], det.nms_threshold)]
        ref_boxes = np.concatenate([ref[:, :2] / r - 0.5, ref[:, 2:4] / r], 1)
        assert len(d) == len(ref) >= 1
        gm, pm = match_boxes(d.boxes, ref_boxes, 0.99)
        assert gm.all() and pm.all()
        order = np.argsort(-ref[:, 14])
        np.testing.assert_allclose(np.sort(d.scores)[::-1], ref[order, 14], atol=1e-4)
        assert (d.scores >= det.score_threshold).all()


def test_finds_the_annotated_faces_and_keypoints_sit_on_them():
    """On AFW photos: every annotated face is found; keypoint 0 is the subject's right eye (the
    image-left eye), near the centre of its ground-truth eye points."""
    _need_shared()
    from facekd.data.formats import load_dataset  # noqa: F401  (the pts reader below)
    from facekd.data.base import box_from_points

    det = load_detector("yunet_n")
    assert isinstance(det, FaceDetector) and det.num_keypoints == 5
    assert det.box_transform is not None
    photos = {p.name: b for p, b in load_photo_boxes(AFW)}
    for name in PHOTOS:
        img = _photo(name)
        d = det.detect(img)
        gm, _ = match_boxes(d.landmark_boxes(det.box_transform), photos[name], 0.5)
        assert gm.all(), f"{name}: missed {np.flatnonzero(~gm)}"
        for pts_file in sorted(AFW.glob(name.replace(".jpg", "_*.pts"))):
            lines = pts_file.read_text().split("{")[1].split("}")[0].split()
            pts = np.asarray(lines, np.float32).reshape(-1, 2) - 1.0
            gt = box_from_points(pts)
            j = int(np.argmax(box_iou(d.landmark_boxes(det.box_transform), gt)[:, 0]))
            size = float(max(gt[2], gt[3]))
            right_eye, left_eye = pts[36:42].mean(0), pts[42:48].mean(0)
            assert np.linalg.norm(d.keypoints[j, 0] - right_eye) < 0.12 * size
            assert np.linalg.norm(d.keypoints[j, 1] - left_eye) < 0.12 * size
            assert np.linalg.norm(d.keypoints[j, 2] - pts[30]) < 0.15 * size  # nose tip
            assert abs(d.roll()[j]) < 30


def test_score_threshold():
    _need_shared()
    img = _photo(PHOTOS[0])
    low = YuNetDetector("yunet_n", score_threshold=0.3).detect(img)
    high = YuNetDetector("yunet_n", score_threshold=0.8).detect(img)
    assert (high.scores >= 0.8).all() and (low.scores >= 0.3).all()
    assert len(low) > len(high) >= 1
    # the high-threshold result is the low one's detections at or above 0.8 (NMS is score-ordered)
    kept = low.take(low.scores >= 0.8)
    np.testing.assert_allclose(np.sort(kept.scores), np.sort(high.scores), atol=1e-6)
    assert len(YuNetDetector("yunet_n", score_threshold=1.0).detect(img)) == 0
    blank = YuNetDetector("yunet_n").detect(np.full((240, 320, 3), 128, np.uint8))
    assert len(blank) == 0 and blank.keypoints.shape == (0, 5, 2)


def test_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [20, 20, 10, 10], [0, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.95, 0.5, 0.2], np.float32)
    keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [1, 2]  # 0 and 3 overlap box 1 (IoU 0.82 and 0.68)
    assert nms(boxes, scores, 0.9).tolist() == [1, 0, 2, 3]
    assert nms(boxes, scores, 0.5, top_k=1).tolist() == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3).tolist() == []
    # against brute force on random boxes: no two kept boxes overlap above the threshold, and
    # every dropped box overlaps a kept box with a higher score
    rng = np.random.default_rng(0)
    b = np.concatenate([rng.uniform(0, 100, (60, 2)), rng.uniform(5, 30, (60, 2))], 1)
    s = rng.uniform(0, 1, 60)
    k = nms(b, s, 0.3)
    iou = box_iou(b, b)
    assert (iou[np.ix_(k, k)] - np.eye(len(k)) <= 0.3).all()
    for i in set(range(60)) - set(k.tolist()):
        assert any(iou[i, j] > 0.3 and s[j] >= s[i] for j in k)
    with pytest.raises(FacekdError):
        nms(boxes, scores[:2], 0.5)


def test_box_transform_in_rotated_frames():
    """A turned face's box, mapped in its frame, is the turned landmark box."""
    t = BoxTransform(dx=0.02, dy=0.15, sw=0.8, sh=0.7)
    upright = np.array([[100.0, 50.0, 40.0, 60.0]])
    ref = t.apply(upright)[0]  # landmark box of the upright face
    cx, cy = ref[0] + ref[2] / 2, ref[1] + ref[3] / 2
    # the same face turned 90 deg counter-clockwise about (0, 0) (x, y) -> (y, -x)
    turned = np.array([[50.0, -140.0, 60.0, 40.0]])
    out = t.apply(turned, rotation=90)[0]
    np.testing.assert_allclose([out[0] + out[2] / 2, out[1] + out[3] / 2], [cy, -cx], atol=1e-4)
    np.testing.assert_allclose(out[2:], ref[2:][::-1], atol=1e-4)
    np.testing.assert_allclose(t.apply(upright, rotation=0), t.apply(upright))
    with pytest.raises(FacekdError, match="multiple of 90"):
        t.apply(upright, rotation=30)


def test_rotated_passes_find_turned_faces_and_map_keypoints_back():
    _need_shared()
    img = _photo(PHOTOS[0])
    up = load_detector("yunet_n").detect(img)
    j0 = int(np.argmax(up.scores))
    for k, rot in ((1, 90), (3, 270), (2, 180)):  # np.rot90 k turns the photo k x 90 deg ccw
        turned = np.ascontiguousarray(np.rot90(img, k))
        d = load_detector("yunet_n", rotations=(90, 180, 270), rotate="always").detect(turned)
        # the upright face's keypoints, turned like the photo
        H, W = img.shape[:2]
        p = up.keypoints[j0]
        if k == 1:
            exp = np.stack([p[:, 1], W - 1 - p[:, 0]], 1)
        elif k == 2:
            exp = np.stack([W - 1 - p[:, 0], H - 1 - p[:, 1]], 1)
        else:
            exp = np.stack([H - 1 - p[:, 1], p[:, 0]], 1)
        err = np.linalg.norm(d.keypoints - exp[None], axis=2).mean(1)
        j = int(np.argmin(err))
        assert err[j] < 3.0, (rot, err[j])
        assert d.rotation[j] == rot
        roll = (d.roll()[j] - up.roll()[j0] + rot + 180) % 360 - 180  # ccw turn = negative roll
        assert abs(roll) < 5
    with pytest.raises(FacekdError, match="rotations"):
        YuNetDetector("yunet_n", rotations=(45,))


class _FixedRows:
    """A YuNet runner that returns fixed decoded rows (x, y, w, h, 10 keypoints, score) on a 64 x 64
    canvas, and counts its calls (one per pass)."""

    input_shape = (1, 3, 64, 64)

    def __init__(self, boxes_scores):
        rows = np.zeros((len(boxes_scores), 15), np.float32)
        for i, ((x, y, w, h), sc) in enumerate(boxes_scores):
            rows[i, :4] = (x, y, w, h)
            rows[i, 4:14] = np.tile([x + w / 2, y + h / 2], 5)
            rows[i, 14] = sc
        self.rows, self.calls = torch.from_numpy(rows)[None], 0

    def __call__(self, x):
        self.calls += 1
        return self.rows


def test_fallback_threshold_counts_weak_faces_only_on_an_image_without_a_strong_one():
    img = np.zeros((64, 64, 3), np.uint8)
    weak_and_weaker = [((4, 4, 20, 20), 0.75), ((36, 36, 20, 20), 0.6)]
    strong_and_weak = [((4, 4, 20, 20), 0.9), ((36, 36, 20, 20), 0.75)]
    plain = YuNetDetector("yunet_n", runner=_FixedRows(weak_and_weaker), box_transform=None)
    assert len(plain.detect(img)) == 0
    r = _FixedRows(weak_and_weaker)
    d = YuNetDetector("yunet_n", runner=r, box_transform=None, fallback_threshold=0.7).detect(img)
    np.testing.assert_allclose(d.scores, [0.75])
    r = _FixedRows(strong_and_weak)
    d = YuNetDetector("yunet_n", runner=r, box_transform=None, fallback_threshold=0.7).detect(img)
    np.testing.assert_allclose(d.scores, [0.9])  # a strong face keeps the weak one out
    # rotated fallback passes run only when no pass has a strong face, at the fallback threshold
    r = _FixedRows(strong_and_weak)
    YuNetDetector("yunet_n", runner=r, box_transform=None, rotations=(90, 180, 270),
                  fallback_threshold=0.7).detect(img)
    assert r.calls == 1
    r = _FixedRows(weak_and_weaker)
    d = YuNetDetector("yunet_n", runner=r, box_transform=None, rotations=(90, 180, 270),
                      fallback_threshold=0.7).detect(img)
    assert r.calls == 4 and (d.scores >= 0.7).all() and len(d) >= 1
    with pytest.raises(FacekdError, match="fallback_threshold"):
        YuNetDetector("yunet_n", fallback_threshold=1.5)


def test_the_pipeline_detector_has_rotated_fallback_passes():
    from facekd.detectors import DEFAULT_FALLBACK_THRESHOLD, default_detector

    det = default_detector()
    assert det.rotations == (90, 180, 270) and det.rotate == "fallback"
    assert det.fallback_threshold == DEFAULT_FALLBACK_THRESHOLD < det.score_threshold
    assert load_detector("yunet_s").fallback_threshold is None and load_detector("yunet_s").rotations == ()


def test_rotated_faces_set_is_seeded_and_points_follow_the_image():
    _need_shared()
    from facekd.data import load_dataset
    from facekd.data.rotated import RotatedFaces, rotate_face

    ds = load_dataset(SHARED / "data" / "helen_afw" / "val").select(range(3))
    a, b = RotatedFaces(ds, max_angle=90, seed=3), RotatedFaces(ds, max_angle=90, seed=3)
    np.testing.assert_array_equal(a.angles, b.angles)
    assert not np.array_equal(a.angles, RotatedFaces(ds, max_angle=90, seed=4).angles)
    assert (np.abs(RotatedFaces(ds, max_angle=180, seed=0).angles) <= 180).all()
    it = a[0]
    assert it["image"].shape[0] == it["image"].shape[1] and np.isfinite(it["landmarks"]).all()
    # turning back by the same angle about the canvas centre brings points and pixels back
    src = ds[0]
    img, pts, m = rotate_face(src["image"], src["landmarks"], 90.0)
    inv = np.vstack([m, [0, 0, 1]])
    back = (np.linalg.inv(inv)[:2] @ np.c_[pts, np.ones(len(pts))].T).T
    np.testing.assert_allclose(back, src["landmarks"], atol=1e-3)
    # a 90 deg turn is exact: the pixel at a landmark is the source pixel there
    q = np.round(src["landmarks"][30]).astype(int)
    qq = np.round(m @ np.r_[q, 1.0]).astype(int)
    np.testing.assert_allclose(img[qq[1], qq[0]].astype(int), src["image"][q[1], q[0]].astype(int), atol=3)


def test_errors_and_bundled_names():
    assert {"yunet_n", "yunet_s", "haar_frontalface"} <= set(bundled_detectors())
    with pytest.raises(FacekdError, match="unknown detector"):
        load_detector("nope")
    det = YuNetDetector("yunet_n")
    with pytest.raises(FacekdError, match="uint8"):
        det.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(FacekdError, match="shape"):
        det.detect(np.zeros((64, 64, 4), np.uint8))
    for kw in ({"score_threshold": 1.5}, {"nms_threshold": -1}, {"max_side": 8}, {"top_k": 0},
               {"rotate": "sometimes"}):
        with pytest.raises(FacekdError):
            YuNetDetector("yunet_n", **kw)
    assert len(det.detect(np.zeros((5, 7, 3), np.uint8))) == 0  # tiny image: padded, no face
    assert isinstance(Detections.empty(5).roll(), np.ndarray)


def test_weights_load_without_pickle_and_fused_bn_is_the_same_model():
    from importlib import resources

    from safetensors.torch import load_file

    from facekd.models.yunet import YuNet

    f = resources.files("facekd").joinpath("assets", "detectors", "yunet_s.safetensors")
    with resources.as_file(f) as p:
        state = load_file(str(p))
    m = YuNet.from_state_dict(state)
    x = torch.rand(1, 3, 64, 96) * 255
    with torch.no_grad():
        a = m(x)
        b = YuNet.from_state_dict(state).fuse_bn()(x)
    assert a.shape == (1, 8 * 12 + 4 * 6 + 2 * 3, 15)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
    with pytest.raises(FacekdError, match="multiples of 32"):
        m(torch.zeros(1, 3, 50, 64))
    with pytest.raises(FacekdError, match="not YuNet"):
        YuNet.from_state_dict({"x": torch.zeros(1)})


@pytest.mark.parametrize("name", ["yunet_n", "yunet_s"])
def test_fused_heads_are_the_same_maps_with_a_quarter_of_the_predictor_convs(name):
    """``YuNet.fuse`` stacks each level's cls/obj/box/keypoint predictors into one DP unit: the raw
    head maps (every channel, every location) are those of the unfused model, with 6 predictor
    convolutions instead of 24; the detector runs the fused model."""
    from importlib import resources

    from safetensors.torch import load_file

    from facekd.detectors import YuNetDetector
    from facekd.models.yunet import YuNet

    f = resources.files("facekd").joinpath("assets", "detectors", f"{name}.safetensors")
    with resources.as_file(f) as p:
        state = load_file(str(p))
    plain, fused = YuNet.from_state_dict(state).fuse_bn(), YuNet.from_state_dict(state).fuse()
    x = torch.rand(2, 3, 96, 128) * 255
    with torch.no_grad():
        a, b = plain.heads(x), fused.heads(x)
    assert b.shape == a.shape == (2, 16, 12 * 16 + 6 * 8 + 3 * 4)
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-5)
    assert a.abs().max() > 1.0  # not a degenerate comparison

    def predictor_convs(m):
        head = m.bbox_head
        mods = head.fused if head.fused is not None else [
            u for i in range(3) for u in head._predictors(i)]
        return sum(isinstance(c, torch.nn.Conv2d) for u in mods for c in u.modules())

    assert (predictor_convs(plain), predictor_convs(fused)) == (24, 6)
    assert fused.fuse() is fused and predictor_convs(fused) == 6  # idempotent
    assert YuNetDetector(name).module.bbox_head.fused is not None


def test_export_to_executorch_and_parity_with_eager(tmp_path):
    """The detector lowers to a .pte whose every op is inside XNNPACK (the program stops at the raw
    head maps) and, decoded on the host, gives the same detections as eager at the same canvas."""
    pytest.importorskip("executorch")
    _need_shared()
    from facekd.export.executorch import PteModel
    from facekd.models.yunet import decode_heads

    det = YuNetDetector("yunet_n")
    data, report = det.export_pte(256, 320)
    assert report.fully_delegated, report.summary()
    (tmp_path / "yunet_n.pte").write_bytes(data)
    pte = PteModel(tmp_path / "yunet_n.pte")
    assert pte.input_shape == (1, 3, 256, 320) and pte.output_shape == (1, 16, 80 * 21)
    assert pte.card()["output"] == "yunet_heads"
    x = torch.rand(1, 3, 256, 320) * 255
    with torch.no_grad():
        torch.testing.assert_close(decode_heads(pte(x), 256, 320), det.module(x), atol=2e-3, rtol=1e-3)
    img = _photo(PHOTOS[0])
    via_pte = YuNetDetector("yunet_n", runner=pte).detect(img)
    eager = YuNetDetector("yunet_n", max_side=256)  # the same scale: 1024 x 717 -> 256 x 179 in the canvas
    ref = eager.detect(img)
    assert len(via_pte) == len(ref) >= 1
    gm, pm = match_boxes(via_pte.boxes, ref.boxes, 0.9)
    assert gm.all() and pm.all()
    with pytest.raises(FacekdError, match="multiples of 32"):
        det.export_pte(250, 320)


def test_decode_heads_checks_its_input():
    from facekd.models.yunet import decode_heads

    with pytest.raises(FacekdError, match=r"\[N, 16, A\]"):
        decode_heads(torch.zeros(1, 15, 21), 32, 32)
    with pytest.raises(FacekdError, match="locations"):
        decode_heads(torch.zeros(1, 16, 20), 32, 32)
    rows = decode_heads(torch.zeros(1, 16, 21), 32, 32)  # 4x4 + 2x2 + 1x1 locations
    assert rows.shape == (1, 21, 15)
    # zero logits: score sqrt(0.5 * 0.5); location (col 1, row 0) of stride 8: centre (8, 0), size 8
    np.testing.assert_allclose(rows[0, :, 14].numpy(), 0.5)
    np.testing.assert_allclose(rows[0, 1, :4].numpy(), [4.0, -4.0, 8.0, 8.0])


def test_bench_detector_compares_on_photos(tmp_path, capsys):
    _need_shared()
    import json

    from facekd.cli import main

    rc = main(["bench", "detector", "--photos", str(AFW), "--detectors", "yunet_s", "--limit", "3",
               "--score-thresholds", "0.5,0.95", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "detectors.json").read_text())["results"]["yunet_s"]
    assert res["photos"] == 3 and res["faces"] >= 3 and res["params"]["score_threshold"] == 0.85
    sweep = {r["score_threshold"]: r for r in res["sweep"]}
    assert sweep[0.5]["found"] >= sweep[0.85]["found"] >= sweep[0.95]["found"]
    assert sweep[0.85]["found"] == res["found"]
    assert "| yunet_s |" in (tmp_path / "detectors.md").read_text()


def test_bench_detector_executorch_rows_beside_haar(tmp_path, capsys):
    """--runtime executorch runs each YuNet at each --max-sides as a fully delegated program; the
    Haar cascade in the same list stays one numpy row."""
    pytest.importorskip("executorch")
    _need_shared()
    import json

    from facekd.cli import main

    rc = main(["bench", "detector", "--photos", str(AFW), "--detectors", "yunet_n,haar_frontalface",
               "--max-sides", "160", "--runtime", "executorch", "--limit", "1", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "detectors.json").read_text())["results"]
    assert set(res) == {"yunet_n@160", "haar_frontalface"}
    assert res["yunet_n@160"]["runtime"] == "executorch" and res["yunet_n@160"]["params"]["max_side"] == 160
    assert res["haar_frontalface"]["runtime"] == "eager"
    capsys.readouterr()
    assert main(["bench", "detector", "--photos", str(AFW), "--detectors", "yunet_n", "--max-sides", "16",
                 "--limit", "1", "--out", str(tmp_path), "--quiet"]) != 0
    assert "below 32" in capsys.readouterr().err


def test_bench_detector_bad_photo_folder(tmp_path, capsys):
    from facekd.cli import main

    rc = main(["bench", "detector", "--photos", str(tmp_path), "--quiet"])
    assert rc != 0 and "faces.csv" in capsys.readouterr().err
