"""The dlib peer (shape predictor + HOG detector) and `facekd bench peers` / `facekd bench detector`.
Skipped only when dlib or its 68-point model is not installed (pip install 'facekd[peers]')."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facekd.peers import dlib_unavailable

pytestmark = pytest.mark.skipif(dlib_unavailable() is not None, reason=str(dlib_unavailable()))

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


@pytest.fixture(scope="module")
def predictor():
    from facekd.peers import DlibShapePredictor

    return DlibShapePredictor()


def test_dlib_on_300w_from_mapped_ground_truth_box(predictor):
    _need_shared()
    from facekd.data import load_dataset
    from facekd.data.base import box_from_points
    from facekd.engine.metrics import nme
    from facekd.peers import dlib_box_transform

    t = dlib_box_transform()
    assert t is not None, "assets/peers/dlib.json holds no calibrated box transform"
    ds = load_dataset(SAMPLES / "300w")
    preds, gts = [], []
    for i in range(len(ds)):
        it = ds[i]
        box = t.inverse().apply(box_from_points(it["landmarks"]))
        p = predictor.predict(it["image"], box)
        assert p.shape == (ds.scheme.num_points, 2) and p.dtype == np.float32
        preds.append(p)
        gts.append(it["landmarks"])
    e = nme(np.stack(preds), np.stack(gts), ds.scheme)
    assert e.max() < 0.08  # dlib's predictor is good on frontal 300-W faces


def test_dlib_hog_detector_and_box_conventions(predictor):
    _need_shared()
    from facekd.data import load_dataset
    from facekd.data.base import box_from_points
    from facekd.detectors import FaceDetector, match_detection
    from facekd.peers import DlibHogDetector

    det = DlibHogDetector()
    assert isinstance(det, FaceDetector)
    it = load_dataset(SAMPLES / "300w")[0]
    boxes, scores = det(it["image"])
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(scores) == len(boxes)
    gt = box_from_points(it["landmarks"])
    j = match_detection(boxes, gt)
    assert j is not None
    # a box converts to the dlib rectangle covering the same pixels, and back
    r = predictor.rectangle(boxes[j])
    back = [r.left() - 0.5, r.top() - 0.5, r.right() - r.left() + 1, r.bottom() - r.top() + 1]
    np.testing.assert_allclose(back, boxes[j], atol=1e-5)
    assert det.box_transform is not None
    mapped = det.box_transform.apply(boxes[j])
    from facekd.detectors import box_iou

    assert box_iou(mapped, gt)[0, 0] > 0.6  # calibrated on ytf68, still close on a 300-W face


def test_bench_peers_end_to_end(tmp_path, capsys):
    _need_shared()
    from facekd.cli import main
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, create_model, save_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68")
    torch.manual_seed(0)
    model = create_model("hrnet_slim_w8", scheme.num_points)
    card = card_for(model, scheme=scheme, input_size=128, codec=HeatmapCodec(128, 32, 1.0, "dark"))
    save_model(tmp_path / "m", model, card)
    out = tmp_path / "bench"
    threads = torch.get_num_threads()
    try:
        rc = main(["bench", "peers", "--data", str(YTF / "test"), "--model", str(tmp_path / "m"),
                   "--out", str(out), "--limit", "3", "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    res = json.loads((out / "peers.json").read_text())
    assert res["faces"] == 3
    rows = {(r["setting"], r["method"]): r for r in res["rows"]}
    gt_dlib, gt_fk = rows[("ground-truth boxes", "dlib")], rows[("ground-truth boxes", "facekd")]
    assert gt_dlib["faces"] == 3 and gt_fk["faces"] == 3
    own = rows[("own detector", "dlib")]
    assert own["faces"] + own["missed"] == 3
    # dlib is a trained model (best from its own detector's boxes); the facekd model here is untrained
    assert own["nme"] < 0.12 and gt_dlib["nme"] < 0.3
    assert gt_fk["nme"] > 2 * gt_dlib["nme"]
    lat = res["latency_ms_median"]
    assert all(lat[k] > 0 for k in ("facekd", "dlib", "haar", "hog"))
    md = (out / "peers.md").read_text()
    assert "| ground-truth boxes | dlib |" in md and "Latency" in md
    assert (out / "ced_gt_boxes.png").stat().st_size > 1000
    assert "dlib" in capsys.readouterr().out


def test_bench_detector_recall(capsys):
    _need_shared()
    from facekd.cli import main

    rc = main(["bench", "detector", "--data", str(YTF / "test"), "--limit", "3", "--detector", "dlib", "--quiet"])
    assert rc == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("recall:")][0]
    stats = json.loads(line.split(":", 1)[1])
    assert stats["faces"] == 3 and 0 <= stats["recall_centre"] <= 1
