"""The whole-image pipeline evaluation (facekd.engine.evaluator.evaluate_pipeline) behind
`facekd bench rotation --model`: the bundled detector and model on real faces, upright and turned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facekd.errors import FacekdError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
HELEN = SHARED / "data" / "helen_afw" / "val"


def _need_shared():
    if not HELEN.is_dir():
        pytest.skip("../shared/data/helen_afw not found")


@pytest.fixture(scope="module")
def faces():
    _need_shared()
    from facekd.data import load_dataset

    ds = load_dataset(HELEN)
    return ds.select([0, len(ds) // 2, len(ds) - 1])


@pytest.fixture(scope="module")
def landmarker():
    from facekd.api import Landmarker, default_model_path
    from facekd.detectors import load_detector

    if default_model_path() is None:
        pytest.skip("the default model asset is not bundled")
    return Landmarker("default", threads=1, detector=load_detector("yunet_s", rotations=(90, 180, 270)))


def test_pipeline_on_upright_and_turned_faces(faces, landmarker):
    from facekd.data.rotated import RotatedFaces
    from facekd.engine.evaluator import evaluate_pipeline, pipeline_summary

    up = evaluate_pipeline(landmarker, RotatedFaces(faces, max_angle=0.0), progress=False)
    assert np.isfinite(up["nme"]).all() and (up["nme"] < 0.10).all(), up["nme"]
    assert (up["faces"] >= 1).all() and (np.abs(up["rotation"]) < 20).all()
    turned = RotatedFaces(faces, max_angle=90.0, seed=3)
    res = evaluate_pipeline(landmarker, turned, progress=False)
    np.testing.assert_allclose(res["angle"], turned.angles)
    s = pipeline_summary(res, up)
    assert s["faces"] == 3 and s["missed"] == 0 and s["both"] == 3
    # the roll the landmarker used follows the turn (crop roll = eye-line angle; the set turns
    # counter-clockwise on screen, i.e. by -angle in image coordinates)
    err = (res["rotation"] - (-turned.angles) - up["rotation"] + 180) % 360 - 180
    assert np.abs(err).max() < 10, (res["rotation"], turned.angles)
    assert s["ratio"] < 1.5 and s["nme"] < 0.10


def test_a_face_nobody_finds_is_a_miss(landmarker):
    from facekd.engine.evaluator import evaluate_pipeline, pipeline_summary

    blank = [{"image": np.full((200, 200, 3), 128, np.uint8),
              "landmarks": np.random.default_rng(0).uniform(60, 140, (68, 2)).astype(np.float32),
              "visible": np.ones(68, bool), "meta": {"angle": 10.0}}]
    res = evaluate_pipeline(landmarker, blank, progress=False)
    assert np.isnan(res["nme"][0]) and res["faces"][0] == 0 and res["angle"][0] == 10.0
    s = pipeline_summary(res)
    assert s["missed"] == 1 and s["miss_rate"] == 1.0 and s["nme"] is None
    with pytest.raises(FacekdError, match="empty"):
        evaluate_pipeline(landmarker, [], progress=False)


def test_choose_threshold_halfway_between_the_percentiles():
    from facekd.engine.evaluator import choose_threshold

    r = choose_threshold(np.linspace(0.6, 0.8, 21), np.linspace(0.2, 0.4, 21))
    assert r["correct_p5"] == pytest.approx(0.61) and r["wrong_p95"] == pytest.approx(0.39)
    assert r["threshold"] == 0.5 and r["gap"] == pytest.approx(0.22)
    assert r["correct_below"] == 0 and r["wrong_above"] == 0 and r["faces"] == 21
    with pytest.raises(FacekdError, match="no scores"):
        choose_threshold(np.array([]), np.array([0.3]))


def test_turn_scores_tell_correct_from_turned_crops(faces, landmarker):
    """On real faces turned by up to 180 degrees, the bundled model's fit of the crop at the true roll
    scores well above its best fit of the crops turned 90/180/270 degrees the wrong way."""
    from facekd.data.rotated import RotatedFaces
    from facekd.engine.evaluator import turn_scores

    sc = turn_scores(landmarker, RotatedFaces(faces, max_angle=180.0, seed=3), progress=False)
    assert len(sc["correct"]) == len(faces)
    assert (sc["correct"] > sc["wrong"] + 0.1).all(), sc
    assert len(sc["gone"]) == len(faces)
    assert (sc["correct"] > sc["gone"] + 0.1).all(), sc  # a crop beside the face scores low


def test_bench_turn_writes_the_card_only_when_asked(tmp_path):
    import json
    import shutil

    from facekd.api import default_model_path
    from facekd.cli import main

    _need_shared()
    if default_model_path() is None:
        pytest.skip("the default model asset is not bundled")
    model = tmp_path / "m"
    shutil.copytree(default_model_path(), model)
    before = (model / "model.json").read_text()
    args = ["bench", "turn", "--model", str(model), "--data", str(HELEN), "--limit", "4", "--quiet"]
    assert main(args) == 0
    assert (model / "model.json").read_text() == before
    assert main(args + ["--write-card"]) == 0
    card = json.loads((model / "model.json").read_text())
    t, lo = card["turn_threshold"], card["loss_threshold"]
    assert 0.2 < t < 0.7 and 0.05 < lo < 0.7
    from facekd.api import Landmarker

    assert Landmarker(model).card.turn_threshold == t
    assert Landmarker(model).card.loss_threshold == lo
