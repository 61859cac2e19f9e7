"""Write the golden tracking sequence tests/golden/sequence.txt (+ sequence_card.json).

    PYTHONPATH=python python tests/golden/generate_sequence.py

A short video of fixed model outputs replayed call by call (a fake model: deterministic, no
network), run through the C landmarker (fk_landmarker, video mode): a detection, tracked frames, a
lost face (no face that frame), a re-detection, and a rolled detection whose eye keypoints set the
crop's roll and whose predicted eyes trigger one roll re-crop; the tracker then carries the roll.
The expected tracks recorded here are what the Python, C++ (x86-64 and aarch64), Swift and Kotlin
suites must reproduce to 1e-4 px. Format: tests/golden/README.md ("landmarker_video").
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from facekd import _core
from facekd.codecs import HeatmapCodec

HERE = Path(__file__).resolve().parent
K, S, H = 5, 32, 16 # points (eyes, nose, mouth corners), crop size, heatmap size
CARD = {
    "model": "golden_fake", "arch": "fake", "config": {"num_keypoints": K}, "num_keypoints": K, "input_size": S,
    "scheme": {"name": "golden5", "num_points": K, "flip_perm": [1, 0, 2, 4, 3], "eye_corners": [0, 1]},
    "output_type": "heatmap",
    "codec": {"type": "heatmap", "input_size": S, "heatmap_size": H, "sigma": 1.0, "decode": "dark", "beta": 1.0},
    "crop_scale": 1.25, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "pixel_format": "RGB",
    "format": 1,
}
OPTIONS = {"recrop_degrees": 5.0, "max_recrops": 2, "loss_threshold": 0.3, "min_face": 4.0, "smooth": 1,
           "min_cutoff": 1.0, "beta": 0.007, "d_cutoff": 1.0}
TRANSFORM = (0.02, 0.06, 0.9, 0.88)
# the face in crop pixels (its tight box fills S / crop_scale): eyes level, nose, mouth
TEMPLATE = np.array([[3.5, 4.5], [28.0, 4.5], [15.75, 16.5], [6.0, 28.5], [25.5, 28.5]])


def _points(shift=(0.0, 0.0), tilt_deg: float = 0.0) -> np.ndarray:
    """The template moved by `shift` and turned by `tilt_deg` about the crop centre (crop px)."""
    c = (S - 1) / 2
    t = math.radians(tilt_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return ((TEMPLATE - c) @ rot.T + c + np.asarray(shift)).astype(np.float32)


def _heatmaps(points: np.ndarray, peak: float) -> np.ndarray:
    codec = HeatmapCodec(S, H, 1.0)
    return (codec.encode(points)[0] * peak).astype(np.float32)


def main() -> None:
    rng = np.random.default_rng(17)
    w, h = 96, 80
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([(xx * 3 + yy) % 256, (yy * 5 + 40) % 256, (xx * yy) % 256], -1).astype(np.uint8)

    def det(box, score=0.9, kps=None):
        return {"box": box, "score": score, "kps": kps}

    roll = 30.0
    cx, cy, d = 50.0, 42.0, 12.0
    eyes = [[cx - d * math.cos(math.radians(roll)), cy - d * math.sin(math.radians(roll))],
            [cx + d * math.cos(math.radians(roll)), cy + d * math.sin(math.radians(roll))]]
    rolled = det([30.0, 22.0, 40.0, 40.0], 0.95, eyes + [[cx, cy + 6], [cx - 6, cy + 14], [cx + 6, cy + 14]])
    # per frame: the detections given (None = none given) and the model outputs of each call, in order
    frames = [
        ([det([20.0, 15.0, 44.0, 46.0])], [[(_points(), 1.0)]]),                   # 0 detection
        (None, [[(_points((0.6, -0.3)), 0.95)]]),                                    # 1 tracked
        (None, [[(_points((1.1, 0.2)), 0.9)]]),                                      # 2 tracked
        ([det([60.0, 10.0, 20.0, 20.0])], [[(_points((0.8, 0.7), 2.0), 0.85)]]),     # 3 tracked (given detections unused)
        (None, [[(_points((0.5, 0.5)), 0.1)]]),                                      # 4 lost, none given: no face
        ([det([24.0, 18.0, 40.0, 42.0], 0.8)], [[(_points((-0.4, 0.3)), 0.9)]]),     # 5 re-detection
        (None, [[(_points((0.3, 0.1)), 0.88)]]),                                     # 6 tracked
        ([rolled], [[(_points((0.0, 0.0)), 0.05)],                                   # 7 lost, then the rolled
                    [(_points((0.2, -0.1), 9.0), 0.9)],                              #   detection (crop at 30 deg,
                    [(_points((0.1, 0.0), 0.5), 0.92)]]),                            #   eyes at +9: re-crop at ~39)
        (None, [[(_points((0.4, 0.2), 1.0), 0.9)]]),                                 # 8 tracked, roll carried
        (None, [[(_points((0.3, 0.4), -1.5), 0.87)]]),                               # 9 tracked
    ]
    calls = [c for _, cs in frames for c in cs]
    outputs = np.stack([_heatmaps(p + rng.normal(0, 0.05, p.shape).astype(np.float32), peak)
                        for c in calls for p, peak in c])
    calls_n = [len(c) for c in calls]
    state = {"call": 0, "face": 0}

    def model(crops):
        i = state["call"]
        assert crops.shape == (calls_n[i], 3, S, S), (i, crops.shape)
        out = outputs[state["face"]:state["face"] + calls_n[i]]
        state["call"] += 1
        state["face"] += calls_n[i]
        return out

    lm = _core.Landmarker(json.dumps(CARD), model, None, _core.MODE_VIDEO, TRANSFORM, OPTIONS["recrop_degrees"],
                          OPTIONS["max_recrops"], OPTIONS["loss_threshold"], OPTIONS["min_face"],
                          bool(OPTIONS["smooth"]), OPTIONS["min_cutoff"], OPTIONS["beta"], OPTIONS["d_cutoff"], 16)
    t_count = len(frames)
    timestamps = np.arange(t_count) / 30.0
    exp = {k: [] for k in ("count", "landmarks", "raw", "scores", "box", "rotation", "face_score",
                           "detection_index", "passes", "detector_ran", "lost")}
    det_count, boxes, scores, kpn, kps = [], [], [], [], []
    for t, (dets, _) in enumerate(frames):
        if dets is None:
            det_count.append(-1)
            given = None
        else:
            det_count.append(len(dets))
            for dd in dets:
                boxes.append(dd["box"])
                scores.append(dd["score"])
                k = dd["kps"] or []
                kpn.append(len(k))
                kps.append(np.concatenate([np.ravel(k), np.zeros(10 - 2 * len(k))]))
            b = np.array([dd["box"] for dd in dets], np.float32)
            s = np.array([dd["score"] for dd in dets], np.float32)
            n_kp = len(dets[0]["kps"] or [])
            kp = np.array([dd["kps"] for dd in dets], np.float32) if n_kp else None
            given = (b, s, kp)
        r = lm.process(image, _core.PIXEL_FORMATS["RGB"], given, None, float(timestamps[t]), 1)
        n = len(r["boxes"])
        exp["count"].append(n)
        exp["detector_ran"].append(int(r["detector_ran"]))
        exp["lost"].append(int(r["lost"]))
        z = np.zeros((K, 2), np.float32)
        exp["landmarks"].append(r["landmarks"][0] if n else z)
        exp["raw"].append(r["raw_landmarks"][0] if n else z)
        exp["scores"].append(r["scores"][0] if n else np.zeros(K, np.float32))
        exp["box"].append(r["boxes"][0] if n else np.zeros(4, np.float32))
        exp["rotation"].append(r["rotations"][0] if n else 0.0)
        exp["face_score"].append(r["face_scores"][0] if n else 0.0)
        exp["detection_index"].append(int(r["detection_index"][0]) if n else -2)
        exp["passes"].append(int(r["passes"][0]) if n else 0)
    assert state["call"] == len(calls), (state, len(calls))

    import generate as G  # the golden writer (tests/golden/generate.py)

    wr = G.Writer("fk_landmarker video sequence (card: sequence_card.json)")
    fields = {
        "width": ("i32", w), "height": ("i32", h), "stride": ("i32", 3 * w), "format": ("i32", 0),
        "data": ("u8", image.reshape(h, 3 * w)),
        "transform": ("f32", np.array(TRANSFORM)),
        **{k: ("f32" if isinstance(v, float) else "i32", v) for k, v in OPTIONS.items()},
        "timestamps": ("f64", timestamps),
        "det_count": ("i32", np.array(det_count)), "det_boxes": ("f32", np.array(boxes)),
        "det_scores": ("f32", np.array(scores)), "det_kpn": ("i32", np.array(kpn)),
        "det_kps": ("f32", np.array(kps)),
        "calls_n": ("i32", np.array(calls_n)), "outputs": ("f32", outputs),
        "count": ("i32", np.array(exp["count"])), "landmarks": ("f32", np.stack(exp["landmarks"])),
        "raw_landmarks": ("f32", np.stack(exp["raw"])), "scores": ("f32", np.stack(exp["scores"])),
        "box": ("f32", np.stack(exp["box"])), "rotation_deg": ("f32", np.array(exp["rotation"])),
        "face_score": ("f32", np.array(exp["face_score"])),
        "detection_index": ("i32", np.array(exp["detection_index"])), "passes": ("i32", np.array(exp["passes"])),
        "detector_ran": ("i32", np.array(exp["detector_ran"])), "lost": ("i32", np.array(exp["lost"])),
    }
    wr.case("landmarker_video", "golden_sequence", fields)
    wr.write(HERE / "sequence.txt")
    (HERE / "sequence_card.json").write_text(json.dumps(CARD, indent=2) + "\n")
    print("count", exp["count"], "passes", exp["passes"], "lost", exp["lost"], "ran", exp["detector_ran"])
    print("rotation", np.round(exp["rotation"], 3).tolist())


if __name__ == "__main__":
    main()
