"""The golden tracking sequence (tests/golden/sequence.txt): fixed model outputs replayed call by
call through the C landmarker, via the binding and via the Python Tracker shell. The C++ (also
aarch64 under qemu), Swift and Kotlin suites replay the same file and must match to 1e-4 px."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facekd import _core
from facekd.api import Landmarker, Tracker
from facekd.detectors import BoxTransform

from test_c_api_golden import GOLDEN, read_golden

TOL = 1e-4


@pytest.fixture(scope="module")
def seq():
    (kernel, name, f), = read_golden("sequence.txt")
    assert kernel == "landmarker_video"
    card = json.loads((GOLDEN / "sequence_card.json").read_text())
    h, w = int(f["height"]), int(f["width"])
    image = f["data"].reshape(h, w, 3)
    return card, image, f


class Replay:
    """The fake model: returns the recorded outputs of call i, checking the number of crops."""

    def __init__(self, f, size):
        self.f, self.size, self.call, self.face = f, size, 0, 0

    def __call__(self, crops):
        crops = np.asarray(crops)
        n = int(self.f["calls_n"][self.call])
        assert crops.shape == (n, 3, self.size, self.size), (self.call, crops.shape)
        out = self.f["outputs"][self.face:self.face + n]
        self.call += 1
        self.face += n
        return out


def frame_detections(f):
    """Per frame: None (none given) or (boxes, scores, keypoints | None)."""
    out, j = [], 0
    for c in f["det_count"]:
        if c < 0:
            out.append(None)
            continue
        sl = slice(j, j + int(c))
        j += int(c)
        kpn = f["det_kpn"][sl]
        kps = f["det_kps"][sl].reshape(-1, 5, 2)[:, :int(kpn.max())] if len(kpn) and kpn.max() > 0 else None
        out.append((f["det_boxes"][sl], f["det_scores"][sl], kps))
    return out


def test_binding_replays_the_golden_tracks(seq):
    card, image, f = seq
    model = Replay(f, card["input_size"])
    lm = _core.Landmarker(json.dumps(card), model, None, _core.MODE_VIDEO, f["transform"],
                          float(f["recrop_degrees"]), int(f["max_recrops"]), float(f["loss_threshold"]),
                          float(f["min_face"]), bool(f["smooth"]), float(f["min_cutoff"]), float(f["beta"]),
                          float(f["d_cutoff"]), 16)
    for t, det in enumerate(frame_detections(f)):
        r = lm.process(image, _core.PIXEL_FORMATS["RGB"], det, None, float(f["timestamps"][t]), 1)
        n = len(r["boxes"])
        assert n == f["count"][t], t
        assert (int(r["detector_ran"]), int(r["lost"])) == (f["detector_ran"][t], f["lost"][t]), t
        if n:
            np.testing.assert_allclose(r["landmarks"][0], f["landmarks"][t], atol=TOL, err_msg=f"frame {t}")
            np.testing.assert_allclose(r["raw_landmarks"][0], f["raw_landmarks"][t], atol=TOL)
            np.testing.assert_allclose(r["boxes"][0], f["box"][t], atol=TOL)
            np.testing.assert_allclose(r["rotations"][0], f["rotation_deg"][t], atol=TOL)
            assert (r["detection_index"][0], r["passes"][0]) == (f["detection_index"][t], f["passes"][t])
    assert model.call == len(f["calls_n"])  # every recorded call was made, no more


def test_golden_sequence_covers_the_cases(seq):
    """What the sequence is for: a detection, tracking, a lost face, re-detections, a roll re-crop."""
    _, _, f = seq
    assert f["count"][0] == 1 and f["detection_index"][0] == 0
    assert (f["detection_index"] == -1).sum() >= 4  # tracked frames
    lost_empty = [t for t in range(len(f["count"])) if f["lost"][t] and f["count"][t] == 0]
    assert lost_empty, "a frame where the face is lost and none is found"
    redetect = [t for t in range(1, len(f["count"])) if f["detection_index"][t] == 0]
    assert len(redetect) >= 2
    rolled = int(np.argmax(f["passes"]))
    assert f["passes"][rolled] == 2  # one roll re-crop
    # the crop ends near the face's roll (keypoints 30 deg + 9 deg seen in the crop), and the tracker
    # carries it to the next frames
    assert 35 < f["rotation_deg"][rolled] < 43
    assert abs(f["rotation_deg"][rolled + 1] - f["rotation_deg"][rolled]) < 3


def test_tracker_shell_gives_the_golden_tracks(seq):
    """The Python Tracker (with a detector replaying the frames' detections) on the same sequence."""
    card, image, f = seq
    dets = frame_detections(f)

    class ReplayDetector:
        box_transform = BoxTransform(*[float(v) for v in f["transform"]])
        frame = 0

        def __call__(self, img):
            d = dets[self.frame]
            return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)) if d is None else d

    detector = ReplayDetector()
    lm = Landmarker.from_module(Replay(f, card["input_size"]), card, detector=detector,
                                recrop_degrees=float(f["recrop_degrees"]), max_recrops=int(f["max_recrops"]))
    tr = Tracker(lm, loss_threshold=float(f["loss_threshold"]), min_face=float(f["min_face"]),
                 min_cutoff=float(f["min_cutoff"]), beta=float(f["beta"]), d_cutoff=float(f["d_cutoff"]))
    for t in range(len(f["count"])):
        detector.frame = t
        face = tr.update(image, float(f["timestamps"][t]))
        assert (face is not None) == bool(f["count"][t]), t
        if face is not None:
            np.testing.assert_allclose(face.landmarks, f["landmarks"][t], atol=TOL, err_msg=f"frame {t}")
            np.testing.assert_allclose(face.box, f["box"][t], atol=TOL)
            assert face.rotation == pytest.approx(float(f["rotation_deg"][t]), abs=TOL)
            assert (face.detector_box is not None) == (f["detection_index"][t] == 0)
    assert tr.stats.losses == int(f["lost"].sum())
